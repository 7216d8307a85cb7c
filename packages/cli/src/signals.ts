/**
 * Ctrl-C during a long run: the first SIGINT cancels between batches (the caller then aborts its output),
 * a second one aborts the output right away and exits, so an impatient user still leaves no partial file.
 */
export function onInterrupt(controller: AbortController, abortNow: () => Promise<void>): () => void {
  let count = 0;
  const handler = () => {
    count++;
    if (count === 1) {
      process.stderr.write('\npssr: canceling after the current batch (Ctrl-C again to stop at once)\n');
      controller.abort();
    } else {
      void abortNow().finally(() => process.exit(130));
    }
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
