/**
 * Entry point of the `pvisor` command (`bin/pvisor.js`, `npm start`): runs {@link cli} on the
 * process's arguments and sets the exit status.
 * @module
 */
import { cli } from './cli.ts';

// `pvisor run … | head` closes stdout early: stop quietly instead of dying on EPIPE.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
});

process.exitCode = await cli(process.argv.slice(2));
