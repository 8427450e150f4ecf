/** Where commands write: stdout/stderr by default, a buffer in tests. */
export interface Output {
  write(text: string): void;
  /** Live progress lines are drawn only on a terminal. */
  readonly isTTY?: boolean;
}

export interface Io {
  out: Output;
  err: Output;
}

export const processIo: Io = {
  out: process.stdout,
  err: process.stderr,
};

/** Collects what a command writes (tests). */
export function bufferOutput(): Output & { readonly text: string } {
  const chunks: string[] = [];
  return {
    isTTY: false,
    write(text: string) {
      chunks.push(text);
    },
    get text() {
      return chunks.join('');
    },
  };
}
