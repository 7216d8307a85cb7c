/**
 * Static checks of the deployment files (no Docker engine or cluster here): every YAML parses; compose and
 * Kubernetes reference only things that exist (services, volumes, Dockerfiles, ConfigMaps, Secrets,
 * Deployments); probes, GPU limits and the grace period are there; image names match the Dockerfiles; each
 * Dockerfile COPYs only existing, non-ignored paths, ships the sources of every workspace its entry point
 * imports, and the API image carries no onnxruntime or Python; every setting handed to a container is one a
 * service actually reads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { JOB_NAMES } from '@pssr/queue';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (p: string) => readFileSync(join(root, p), 'utf8');
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function parseYaml(path: string): Obj[] {
  const docs = parseAllDocuments(read(path));
  for (const d of docs) assert.deepEqual(d.errors.map(String), [], `${path} parses`);
  return docs.map((d) => d.toJS() as Obj).filter((d) => d !== null);
}

// ---- Dockerfiles -------------------------------------------------------------------------------------------

interface Instruction { op: string; args: string }
interface Stage { from: string; name: string | null; instructions: Instruction[] }

function parseDockerfile(path: string): { args: Map<string, string>; stages: Stage[] } {
  const lines = read(path).split('\n').filter((l) => !/^\s*#/.test(l));
  const joined = lines.join('\n').replace(/\\\n/g, ' ');
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const raw of joined.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const m = /^(\w+)\s+(.*)$/.exec(line);
    assert.ok(m, `${path}: cannot parse "${line}"`);
    const op = m[1]!.toUpperCase();
    const rest = m[2]!;
    if (op === 'ARG' && stages.length === 0) {
      const [k, v] = rest.split('=');
      args.set(k!, v ?? '');
      continue;
    }
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      assert.ok(f, `${path}: FROM ${rest}`);
      const image = f[1]!.replace(/\$\{(\w+)\}/g, (_, k: string) => args.get(k) ?? '');
      stages.push({ from: image, name: f[2] ?? null, instructions: [] });
      continue;
    }
    assert.ok(stages.length > 0, `${path}: ${op} before FROM`);
    stages.at(-1)!.instructions.push({ op, args: rest });
  }
  return { args, stages };
}

function copySources(ins: Instruction): { from: string | null; sources: string[]; dest: string } {
  const words = ins.args.trim().startsWith('[') ? (JSON.parse(ins.args) as string[]) : ins.args.split(/\s+/);
  let from: string | null = null;
  const rest: string[] = [];
  for (const w of words) {
    if (w.startsWith('--from=')) from = w.slice(7);
    else if (!w.startsWith('--')) rest.push(w);
  }
  return { from, sources: rest.slice(0, -1), dest: rest.at(-1)! };
}

const dockerignore = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
const ignoreRegexes = dockerignore.map((p) => new RegExp(`^${p.replace(/[.+^$()|[\]{}]/g, '\\$&').replace(/\*\*\//g, '(?:.*/)?').replace(/\*/g, '[^/]*')}$`));
function ignored(path: string): boolean {
  const parts = path.replace(/\/$/, '').split('/');
  for (let i = 1; i <= parts.length; i++) {
    const prefix = parts.slice(0, i).join('/');
    if (ignoreRegexes.some((r) => r.test(prefix))) return true;
  }
  return false;
}

const rootPkg = JSON.parse(read('package.json')) as { workspaces: string[] };
const workspaceByName = new Map<string, { dir: string; deps: string[] }>();
for (const dir of rootPkg.workspaces) {
  const pkg = JSON.parse(read(`${dir}/package.json`)) as { name: string; dependencies?: Record<string, string> };
  workspaceByName.set(pkg.name, { dir, deps: Object.keys(pkg.dependencies ?? {}).filter((d) => d.startsWith('@pssr/')) });
}
function workspaceClosure(name: string, seen = new Set<string>()): Set<string> {
  if (seen.has(name)) return seen;
  seen.add(name);
  for (const d of workspaceByName.get(name)?.deps ?? []) workspaceClosure(d, seen);
  return seen;
}

const DOCKERFILES = {
  'docker/api.Dockerfile': { title: 'pssr-api', workspace: '@pssr/api', entry: 'services/api/src/server.ts' },
  'docker/worker-cpu.Dockerfile': { title: 'pssr-worker-cpu', workspace: '@pssr/worker', entry: 'services/worker/src/main.ts' },
  'docker/worker-gpu.Dockerfile': { title: 'pssr-worker-gpu', workspace: '@pssr/worker', entry: 'services/worker/src/main.ts' },
} as const;

for (const [file, spec] of Object.entries(DOCKERFILES)) {
  test(`${file}: stages, COPY sources, workspace sources, entry point`, () => {
    const { stages } = parseDockerfile(file);
    const names = new Set(stages.map((s) => s.name).filter(Boolean));
    const final = stages.at(-1)!;
    for (const stage of stages) {
      for (const ins of stage.instructions.filter((i) => i.op === 'COPY' || i.op === 'ADD')) {
        assert.equal(ins.op, 'COPY', `${file}: use COPY, not ADD`);
        const { from, sources } = copySources(ins);
        if (from !== null) {
          assert.ok(names.has(from), `${file}: COPY --from=${from} names a stage of this file`);
          continue;
        }
        for (const src of sources) {
          assert.ok(existsSync(join(root, src)), `${file}: COPY source ${src} exists`);
          assert.ok(!ignored(src), `${file}: COPY source ${src} is not excluded by .dockerignore`);
        }
      }
      // Every stage that runs npm ci sees every workspace manifest (npm ci checks them against the lock).
      if (stage.instructions.some((i) => i.op === 'RUN' && /\bnpm ci\b/.test(i.args))) {
        const copied = stage.instructions.filter((i) => i.op === 'COPY').flatMap((i) => copySources(i).sources);
        for (const dir of rootPkg.workspaces) assert.ok(copied.includes(`${dir}/package.json`), `${file}: stage ${stage.name ?? 'final'} copies ${dir}/package.json before npm ci`);
        assert.ok(copied.includes('package-lock.json'), `${file}: npm ci needs package-lock.json`);
      }
    }
    // The final image holds the sources of every workspace the service imports, transitively.
    const finalCopies = final.instructions.filter((i) => i.op === 'COPY').flatMap((i) => copySources(i).sources);
    for (const ws of workspaceClosure(spec.workspace)) {
      const dir = workspaceByName.get(ws)!.dir;
      assert.ok(finalCopies.some((s) => s === dir || s === `${dir}/src`), `${file}: final image has ${dir} sources (${spec.workspace} needs ${ws})`);
    }
    assert.ok(final.instructions.some((i) => i.op === 'COPY' && i.args.includes('packages/db/src/generated')), `${file}: generated Prisma client copied in`);
    const cmd = final.instructions.filter((i) => i.op === 'CMD').at(-1);
    assert.ok(cmd, `${file}: has CMD`);
    const argv = JSON.parse(cmd.args) as string[];
    assert.deepEqual(argv.slice(0, 3), ['node', '--import', 'tsx'], `${file}: CMD runs node with tsx (exec form, node gets the signals)`);
    assert.equal(argv[3], spec.entry);
    assert.ok(existsSync(join(root, spec.entry)), `${spec.entry} exists`);
    const label = final.instructions.find((i) => i.op === 'LABEL' && i.args.includes('org.opencontainers.image.title'));
    assert.match(label?.args ?? '', new RegExp(`org\\.opencontainers\\.image\\.title="${spec.title}"`));
    assert.ok(final.instructions.some((i) => i.op === 'USER'), `${file}: runs as a non-root user`);
    const install = final.instructions.concat(stages.flatMap((s) => s.instructions)).find((i) => i.op === 'RUN' && i.args.includes('--omit=dev'));
    assert.match(install?.args ?? '', new RegExp(`-w ${spec.workspace.replace('/', '\\/')}\\b`), `${file}: installs only ${spec.workspace}'s production dependencies`);
  });
}

test('docker/api.Dockerfile: slim Node 20, no onnxruntime, no Python', () => {
  const { stages } = parseDockerfile('docker/api.Dockerfile');
  for (const s of stages) assert.match(s.from, /^node:20-[a-z]+-slim$/);
  const text = stages.flatMap((s) => s.instructions).map((i) => `${i.op} ${i.args}`).join('\n');
  assert.doesNotMatch(text, /onnxruntime|python|pip |torch|packages\/inference\/src|packages\/trainer\/(src|pssr_trainer)/i);
  // And npm's view agrees: @pssr/api's production tree has no onnxruntime-node.
  const closure = workspaceClosure('@pssr/api');
  assert.ok(!closure.has('@pssr/inference') && !closure.has('@pssr/trainer'), '@pssr/api does not depend on inference or trainer');
});

test('docker/worker-gpu.Dockerfile: CUDA 13 + cuDNN 9 runtime, onnxruntime-node 1.29.0 with the CUDA provider, PyTorch', () => {
  const { stages, args } = parseDockerfile('docker/worker-gpu.Dockerfile');
  assert.match(stages.at(-1)!.from, /^nvidia\/cuda:13\.\d+\.\d+-cudnn-runtime-ubuntu\d+\.\d+$/, 'CUDA 13 runtime with cuDNN (9 ships with CUDA 13 images)');
  assert.equal(args.get('ORT_GPU_PACKAGE'), 'com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9');
  const text = stages.flatMap((s) => s.instructions).map((i) => i.args).join('\n');
  assert.match(text, /onnxruntime-node\/package\.json'\)\.version"\)" = "1\.29\.0"/, 'refuses a different onnxruntime-node');
  assert.match(text, /libonnxruntime_providers_cuda\.so/);
  assert.match(text, /libonnxruntime_providers_shared\.so/);
  assert.match(text, /node_modules\/onnxruntime-node\/bin\/napi-v6\/linux\/x64\//);
  assert.match(text, /pip install[^\n]*torch/);
  const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { version?: string }> };
  assert.equal(lock.packages['node_modules/onnxruntime-node']?.version, '1.29.0', 'the lock pins onnxruntime-node 1.29.0');
  const inference = JSON.parse(read('packages/inference/package.json')) as { dependencies: Record<string, string> };
  assert.equal(inference.dependencies['onnxruntime-node'], '1.29.0');
});

// ---- docker-compose.yml ------------------------------------------------------------------------------------

/** Every environment variable a PSSR process reads (@pssr/config parses it for every service). */
const readers = ['packages/config/src/index.ts', 'packages/db/src/migrate-cli.ts'].map(read).join('\n');
function assertReadByAService(name: string, where: string): void {
  assert.ok(new RegExp(`['"\`]${name}['"\`]|process\\.env\\.${name}\\b`).test(readers), `${where}: ${name} is read by no service config`);
}

test('docker-compose.yml: services, health checks, AOF, bucket creation, references', () => {
  const [compose] = parseYaml('docker-compose.yml');
  assert.ok(compose);
  const services = compose.services as Obj;
  for (const s of ['postgres', 'redis', 'minio', 'createbucket', 'migrate', 'api', 'worker', 'worker-gpu']) assert.ok(services[s], `service ${s}`);
  for (const s of ['postgres', 'redis', 'minio', 'api']) assert.ok(services[s].healthcheck?.test, `${s} has a health check`);
  const redisCmd = (services.redis.command as string[]).join(' ');
  assert.match(redisCmd, /--appendonly yes/);
  assert.match(redisCmd, /--maxmemory-policy noeviction/);
  assert.match(String(services.createbucket.command), /mc mb --ignore-existing/);
  assert.match(services.createbucket.image, /^minio\/mc/);
  assert.deepEqual(services.migrate.command, ['node', '--import', 'tsx', 'packages/db/src/migrate-cli.ts']);
  assert.ok(existsSync(join(root, 'packages/db/src/migrate-cli.ts')));

  const declaredVolumes = new Set(Object.keys(compose.volumes ?? {}));
  const titles = new Map(Object.entries(DOCKERFILES).map(([f, s]) => [f, s.title]));
  for (const [name, svc] of Object.entries(services) as [string, Obj][]) {
    for (const [dep, cond] of Object.entries(svc.depends_on ?? {}) as [string, Obj][]) {
      assert.ok(services[dep], `${name} depends on existing service ${dep}`);
      assert.ok(['service_started', 'service_healthy', 'service_completed_successfully'].includes(cond.condition), `${name} -> ${dep} condition`);
      if (cond.condition === 'service_healthy') assert.ok(services[dep].healthcheck, `${name} waits for ${dep} to be healthy, which has a health check`);
    }
    for (const v of svc.volumes ?? []) {
      const source = String(v).split(':')[0]!;
      if (!source.startsWith('.') && !source.startsWith('/')) assert.ok(declaredVolumes.has(source), `${name}: volume ${source} is declared`);
    }
    if (svc.build) {
      assert.equal(svc.build.context, '.');
      assert.ok(existsSync(join(root, svc.build.dockerfile)), `${name}: ${svc.build.dockerfile} exists`);
      const title = titles.get(svc.build.dockerfile);
      assert.ok(title && String(svc.image).startsWith(`${title}:`), `${name}: image ${svc.image} is named after ${svc.build.dockerfile}`);
    }
    if (svc.build || String(svc.image).startsWith('pssr-')) {
      for (const key of Object.keys(svc.environment ?? {})) {
        if (key !== '<<') assertReadByAService(key, `compose ${name}`);
      }
    }
  }
  assert.match(services.worker.stop_grace_period, /m$/, 'worker gets minutes to finish its job on stop');
  // Production: one process per container (never `npm run serve`), restarted by the runtime's policy.
  for (const s of ['api', 'worker', 'worker-gpu']) {
    assert.match(String(services[s].restart), /^(unless-stopped|always)$/, `${s} is restarted when it dies`);
    assert.doesNotMatch(JSON.stringify(services[s].command ?? ''), /serve/, `${s} runs one process, not npm run serve`);
  }
  assert.deepEqual(services['worker-gpu'].deploy.resources.reservations.devices[0].capabilities, ['gpu']);
});

// ---- k8s/ ---------------------------------------------------------------------------------------------------

const k8sFiles = readdirSync(join(root, 'k8s')).filter((f) => f.endsWith('.yaml'));
const k8s = k8sFiles.flatMap((f) => parseYaml(`k8s/${f}`).map((doc) => ({ file: f, doc })));
const byKind = (kind: string) => k8s.filter((x) => x.doc.kind === kind).map((x) => x.doc);
const deployment = (name: string) => byKind('Deployment').find((d) => d.metadata.name === name)!;

test('k8s and images: one process per container (server.ts, worker main.ts), restarted by the Deployment', () => {
  assert.match(read('docker/api.Dockerfile'), /CMD \["node", "--import", "tsx", "services\/api\/src\/server\.ts"\]/);
  for (const f of ['docker/worker-cpu.Dockerfile', 'docker/worker-gpu.Dockerfile']) assert.match(read(f), /CMD \["node", "--import", "tsx", "services\/worker\/src\/main\.ts"\]/, f);
  for (const d of byKind('Deployment')) {
    const policy = d.spec.template.spec.restartPolicy;
    assert.ok(policy === undefined || policy === 'Always', `${d.metadata.name}: restartPolicy Always`);
    for (const c of d.spec.template.spec.containers) assert.doesNotMatch(JSON.stringify([c.command ?? '', c.args ?? '']), /serve/, `${d.metadata.name}: not npm run serve`);
  }
});

test('k8s: every manifest parses, is namespaced, and is listed in the kustomization', () => {
  assert.ok(k8s.length >= 10);
  for (const { file, doc } of k8s) {
    assert.ok(doc.apiVersion && doc.kind, `${file}: apiVersion and kind`);
    if (doc.kind === 'Kustomization') continue;
    assert.ok(doc.metadata?.name, `${file}: ${doc.kind} has a name`);
    if (doc.kind !== 'Namespace') assert.equal(doc.metadata.namespace, 'pssr', `${file}: ${doc.kind}/${doc.metadata.name} namespace`);
  }
  const kust = byKind('Kustomization')[0]!;
  const expected = k8sFiles.filter((f) => f !== 'kustomization.yaml' && f !== 'secret.template.yaml').sort();
  assert.deepEqual([...(kust.resources as string[])].sort(), expected, 'kustomization lists every manifest but the secret template');
  for (const d of [...byKind('Deployment'), ...byKind('StatefulSet')]) {
    const labels = d.spec.template.metadata.labels as Obj;
    for (const [k, v] of Object.entries(d.spec.selector.matchLabels as Obj)) assert.equal(labels[k], v, `${d.metadata.name}: selector matches pod labels`);
  }
});

test('k8s: API Deployment probes /health and /ready, Service and HPA point at it, migrations run first', () => {
  const api = deployment('pssr-api');
  const c = api.spec.template.spec.containers.find((x: Obj) => x.name === 'api');
  assert.equal(c.livenessProbe.httpGet.path, '/health');
  assert.equal(c.readinessProbe.httpGet.path, '/ready');
  const portNames = new Set((c.ports as Obj[]).map((p) => p.name));
  assert.ok(portNames.has(c.livenessProbe.httpGet.port) && portNames.has(c.readinessProbe.httpGet.port));
  assert.ok(read('services/api/src/routes/health.ts').includes("'/health'") && read('services/api/src/routes/health.ts').includes("'/ready'"), 'the API serves both probe paths');
  const svc = byKind('Service').find((s) => s.metadata.name === 'pssr-api')!;
  assert.ok(portNames.has(svc.spec.ports[0].targetPort), 'Service targets the named container port');
  for (const [k, v] of Object.entries(svc.spec.selector as Obj)) assert.equal(api.spec.template.metadata.labels[k], v);
  const hpa = byKind('HorizontalPodAutoscaler').find((h) => h.spec.scaleTargetRef.name === 'pssr-api');
  assert.ok(hpa, 'HPA scales the API');
  const init = api.spec.template.spec.initContainers[0];
  assert.deepEqual(init.command, ['node', '--import', 'tsx', 'packages/db/src/migrate-cli.ts']);
});

test('k8s: GPU worker asks for one GPU, lands on GPU nodes, and outlives a job on SIGTERM', () => {
  const w = deployment('pssr-worker-gpu');
  const spec = w.spec.template.spec;
  const c = spec.containers[0];
  assert.equal(String(c.resources.limits['nvidia.com/gpu']), '1');
  assert.ok(Object.keys(spec.nodeSelector ?? {}).length > 0, 'nodeSelector');
  assert.ok((spec.tolerations as Obj[]).some((t) => t.key === 'nvidia.com/gpu'), 'tolerates the GPU taint');
  assert.ok(spec.terminationGracePeriodSeconds >= 3600, 'grace period of at least an hour');
  assert.equal(c.env.find((e: Obj) => e.name === 'WORKER_DEVICE')?.value, 'cuda');
  assert.equal(w.spec.strategy.rollingUpdate.maxSurge, 0, 'no surge pod waiting for a GPU');
});

test('k8s: KEDA scales the GPU workers on the queue-depth metric the API exports', () => {
  const so = byKind('ScaledObject')[0]!;
  assert.equal(so.apiVersion, 'keda.sh/v1alpha1');
  assert.ok(deployment(so.spec.scaleTargetRef.name), 'scale target is a Deployment here');
  const queues = new Set<string>();
  for (const t of so.spec.triggers as Obj[]) {
    // Not the Redis list scaler: prioritized BullMQ jobs are not in the `wait` list (see the file's comment).
    assert.equal(t.type, 'prometheus');
    assert.match(t.metadata.query, /pssr_queue_jobs\{queue="(\w+)"/);
    queues.add(/queue="(\w+)"/.exec(t.metadata.query)![1]!);
    assert.ok(Number(t.metadata.threshold) >= 1);
  }
  assert.deepEqual([...queues].sort(), [...JOB_NAMES].sort(), 'one trigger per queue');
  assert.ok(read('services/api/src/plugins/metrics.ts').includes("'pssr_queue_jobs'"), 'the API exports pssr_queue_jobs');
});

test('k8s: images are the Dockerfiles\' images; ConfigMap/Secret references exist and every key is read', () => {
  const titles = new Set<string>(Object.values(DOCKERFILES).map((s) => s.title));
  const configMaps = new Map(byKind('ConfigMap').map((c) => [c.metadata.name, c]));
  const secrets = new Map(byKind('Secret').map((s) => [s.metadata.name, s]));
  for (const d of [...byKind('Deployment'), ...byKind('StatefulSet')]) {
    const pod = d.spec.template.spec;
    for (const c of [...(pod.initContainers ?? []), ...pod.containers] as Obj[]) {
      const image = String(c.image);
      const name = basename(image.split(':')[0]!);
      if (name.startsWith('pssr-')) assert.ok(titles.has(name), `${d.metadata.name}: image ${image} is built by a docker/*.Dockerfile`);
      for (const ref of (c.envFrom ?? []) as Obj[]) {
        if (ref.configMapRef) assert.ok(configMaps.has(ref.configMapRef.name), `ConfigMap ${ref.configMapRef.name}`);
        if (ref.secretRef) assert.ok(secrets.has(ref.secretRef.name), `Secret ${ref.secretRef.name} (template)`);
      }
      if (name.startsWith('pssr-')) for (const e of (c.env ?? []) as Obj[]) assertReadByAService(e.name, `${d.metadata.name}/${c.name}`);
    }
  }
  for (const cm of configMaps.values()) for (const key of Object.keys(cm.data)) assertReadByAService(key, `ConfigMap ${cm.metadata.name}`);
  for (const s of secrets.values()) for (const key of Object.keys(s.stringData)) assertReadByAService(key, `Secret ${s.metadata.name}`);
});
