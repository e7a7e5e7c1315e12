import type { ReadStream } from 'node:tty';
import type { Readable, Writable } from 'node:stream';

/**
 * Asks a question on the terminal and reads one line without echoing it (for passwords).
 * Ctrl-C aborts with SIGINT's usual exit code.
 */
export function promptHidden(input: Readable, output: Writable, question: string): Promise<string> {
  const tty = input as ReadStream;
  output.write(question);
  tty.setRawMode?.(true);
  tty.resume();
  return new Promise((resolve) => {
    let answer = '';
    const onData = (chunk: Buffer) => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n' || char === '\u0004') {
          finish();
          resolve(answer);
          return;
        }
        if (char === '\u0003') {
          finish();
          process.kill(process.pid, 'SIGINT');
          return;
        }
        answer = char === '\u007f' || char === '\b' ? answer.slice(0, -1) : answer + char;
      }
    };
    const finish = () => {
      tty.off('data', onData);
      tty.setRawMode?.(false);
      tty.pause();
      output.write('\n');
    };
    tty.on('data', onData);
  });
}
