/**
 * The fake guest image of the model-based runs: DOMCTL_CREATE with it succeeds on `hvHost`
 * (whose loader builds a bare domain from it) and in the reference model (told with
 * `FAKE_LOADER`), so create and destroy cycles run without compiling any Wasm.
 * @module
 */
import type { ModelLoader } from '../../spec/model/index.ts';

/** The Wasm magic and version followed by a tag: the one image the fake loader accepts. */
export const FAKE_GUEST_IMAGE: Uint8Array = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...new TextEncoder().encode('pvisor-fake')]);

/** What the fake loader accepts, stated for the reference model (its state's `loader`). */
export const FAKE_LOADER: ModelLoader = { images: [String.fromCharCode(...FAKE_GUEST_IMAGE)] };
