/**
 * The trust report of a restore job (issue 8): report.json with the ids of its map stacks, and the preview
 * PNG. Both are objects the worker stored and recorded with the job's success; a job of another group is
 * 404 like any job, and a job without a report says why (REPORT_NOT_READY / REPORT_NOT_FOUND /
 * REPORT_UNAVAILABLE, all 404).
 */
import { json } from 'node:stream/consumers';
import type { FastifyInstance } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { JobRecord, JobReportRecord } from '@pssr/db';
import { parseRestoreTrust } from '@pssr/queue';
import { callerOf } from '../plugins/auth.js';
import { ApiError, notFound } from '../errors.js';
import { Type } from '@fastify/type-provider-typebox';
import { IdParams, JobReportSchema, problemResponses, type JobReportView } from '../schemas.js';

const FINISHED_WITHOUT: Record<string, string> = { failed: 'failed', canceled: 'was canceled' };

/** The job and its report record, or the 404 that says why there is none. */
async function reportOf(app: FastifyInstance, id: string, groupId: string): Promise<{ job: JobRecord; report: JobReportRecord }> {
  const job = await app.db.jobs.get(id, groupId);
  if (!job) throw notFound('job', id);
  if (job.type !== 'restore') throw new ApiError(404, 'REPORT_NOT_FOUND', `Job ${id} is a ${job.type} job; only restore jobs have a trust report.`);
  if (job.status === 'queued' || job.status === 'running') {
    throw new ApiError(404, 'REPORT_NOT_READY', `Job ${id} is ${job.status}; its trust report appears when it succeeds.`);
  }
  if (job.status !== 'succeeded') throw new ApiError(404, 'REPORT_NOT_FOUND', `Job ${id} ${FINISHED_WITHOUT[job.status] ?? job.status}; only a succeeded restore has a trust report.`);
  const report = await app.db.jobs.report(id, groupId);
  if (report) return { job, report };
  const trust = parseRestoreTrust(job.metrics['trust']);
  if (trust?.status === 'ok' && job.outputStackId === null) throw new ApiError(404, 'REPORT_NOT_FOUND', `Job ${id}'s trust report was deleted with its result stack.`);
  if (trust?.status === 'unavailable') throw new ApiError(404, 'REPORT_UNAVAILABLE', `Job ${id} has no trust report: ${trust.reason}.`);
  throw new ApiError(404, 'REPORT_NOT_FOUND', `Job ${id} finished before this service computed trust reports; restore its stack again to get one.`);
}

export const reportRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/jobs/:id/report',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Trust report of a restore job',
        description:
          'How far to trust the restoration, without ground truth: per frame the consistency with the measured input ' +
          '(rse, rsp, local residual), SNR, TTA uncertainty (options.tta), out-of-distribution flags against the model ' +
          "card's calibration with plain reasons, and the summary; plus the ids of the consistency and uncertainty map " +
          'stacks (GET /v1/stacks/{id}/data). 404 REPORT_NOT_READY while the job runs, REPORT_NOT_FOUND for train jobs, ' +
          'failed or canceled restores, restores whose result stack was deleted (the report goes with it) and restores from before reports, REPORT_UNAVAILABLE when the report failed (the reason says why).',
        params: IdParams,
        response: { 200: JobReportSchema, ...problemResponses(404) },
      },
    },
    async (request) => {
      const { job, report } = await reportOf(app, request.params.id, callerOf(request).group.id);
      const content = (await json(await app.store.getStream(report.reportKey))) as Record<string, unknown>;
      return {
        ...content,
        jobId: job.id,
        stacks: { consistency: report.consistencyStackId, uncertainty: report.uncertaintyStackId },
        preview: `/v1/jobs/${job.id}/preview.png`,
      } as JobReportView;
    },
  );

  app.get(
    '/jobs/:id/preview.png',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Preview image of a restore job',
        description:
          'PNG of the centre frame: bilinear input, restoration, consistency map and (TTA) uncertainty map, with colour ' +
          'bars, the numbers and any flagged regions outlined. The same 404s as the report.',
        params: IdParams,
        produces: ['image/png'],
        response: { 200: Type.Any({ description: 'A PNG image.' }), ...problemResponses(404) },
      },
    },
    async (request, reply) => {
      const { report } = await reportOf(app, request.params.id, callerOf(request).group.id);
      const body = await app.store.getStream(report.previewKey);
      // Written once with the job's success and never changed.
      return reply.type('image/png').header('cache-control', 'private, max-age=86400, immutable').send(body);
    },
  );
};
