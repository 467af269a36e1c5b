/**
 * Errors raised by the engine when it loads a guest image.
 *
 * They are raised at load time, before any guest code runs, so that a user sees every problem
 * of an image at once (with the linker flag that fixes it) instead of one per attempt.
 * @module
 */

/**
 * A guest image that pvisor cannot run: not Wasm, wrong imports or exports, memory not linked
 * the project's way, or a module the instrumenter cannot handle.
 *
 * `problems` lists every problem found, each with its fix; `message` repeats them so that an
 * uncaught error is still useful on a terminal.
 */
export class GuestImageError extends Error {
  /** Name of the image (usually its file name), as given by the caller. */
  readonly image: string;
  /** Every problem found, one sentence each, ending with how to fix it. */
  readonly problems: string[];

  /**
   * @param image - name of the image, shown in the message
   * @param problems - every problem found (at least one)
   */
  constructor(image: string, problems: string[]) {
    super(
      `guest image ${JSON.stringify(image)} cannot be run:\n` +
        problems.map((p) => `  - ${p}`).join('\n'),
    );
    this.name = 'GuestImageError';
    this.image = image;
    this.problems = problems;
  }
}
