/**
 * The load generator of `npm run bench:api`, run as a child process so that the clients' CPU (fetch, JSON)
 * does not share the API's event loop. It receives one phase at a time over IPC, runs `concurrency` loops
 * and answers with per-kind requests/s and latency quantiles. Job ids returned by submissions are kept and
 * polled by later phases.
 */
export interface Phase {
  name: string;
  base: string;
  authorization: string;
  submitBody: unknown;
  concurrency: number;
  /** Stop after this long, or after `requests` requests (whichever is given). */
  seconds?: number;
  requests?: number;
  /** Fraction of requests that are submissions (the rest are status polls). */
  submitShare: number;
}

export interface KindStats {
  count: number;
  errors: number;
  rps: number;
  p50: number;
  p99: number;
}

export interface PhaseResult {
  name: string;
  seconds: number;
  submit: KindStats;
  poll: KindStats;
  statusCodes: Record<string, number>;
}

const ids: string[] = [];

function stats(latencies: number[], errors: number, seconds: number): KindStats {
  latencies.sort((x, y) => x - y);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return { count: latencies.length, errors, rps: latencies.length / seconds, p50: q(0.5), p99: q(0.99) };
}

async function runPhase(p: Phase): Promise<PhaseResult> {
  const lat = { submit: [] as number[], poll: [] as number[] };
  const err = { submit: 0, poll: 0 };
  const codes: Record<string, number> = {};
  const headers = { authorization: p.authorization };
  const submitHeaders = { ...headers, 'content-type': 'application/json' };
  const body = JSON.stringify(p.submitBody);
  const deadline = p.seconds !== undefined ? performance.now() + p.seconds * 1000 : Infinity;
  let issued = 0;
  let k = 0;
  // Every `every`-th request is a submission (1: all of them; 0: none).
  const every = p.submitShare > 0 ? Math.round(1 / p.submitShare) : 0;
  const more = () => performance.now() < deadline && (p.requests === undefined || issued < p.requests);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: p.concurrency }, async () => {
      while (more()) {
        issued++;
        const kind = ids.length === 0 || (every > 0 && k++ % every === 0) ? 'submit' : 'poll';
        const s = performance.now();
        try {
          const r =
            kind === 'submit'
              ? await fetch(`${p.base}/v1/jobs`, { method: 'POST', headers: submitHeaders, body })
              : await fetch(`${p.base}/v1/jobs/${ids[issued % ids.length]}`, { headers });
          codes[r.status] = (codes[r.status] ?? 0) + 1;
          const text = await r.text();
          if (r.status !== (kind === 'submit' ? 202 : 200)) throw new Error(String(r.status));
          if (kind === 'submit') ids.push((JSON.parse(text) as { id: string }).id);
          lat[kind].push(performance.now() - s);
        } catch {
          err[kind]++;
        }
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  return { name: p.name, seconds, submit: stats(lat.submit, err.submit, seconds), poll: stats(lat.poll, err.poll, seconds), statusCodes: codes };
}

process.on('message', (msg: Phase | { done: true }) => {
  if ('done' in msg) {
    process.send?.({ ids });
    process.disconnect();
    return;
  }
  void runPhase(msg).then((r) => process.send?.(r));
});
