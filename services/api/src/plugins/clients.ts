/**
 * Tier 1: external clients (Postgres via @pssr/db, the object store, the BullMQ producer, Redis counters), created once per
 * app and closed in `onClose`. Tests and the OpenAPI generator may pass their own.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { createDb, type Db } from '@pssr/db';
import { createObjectStore, type ObjectStore } from '@pssr/storage';
import { createProducer, createWindowCounters, type Producer, type WindowCounters } from '@pssr/queue';
import type { ApiConfig } from '@pssr/config';

export interface AppClients {
  db: Db;
  store: ObjectStore;
  producer: Producer;
  /** Shared (Redis) counters of the rate limits, so they hold across API replicas. */
  counters: WindowCounters;
}

declare module 'fastify' {
  interface FastifyInstance {
    config: ApiConfig;
    db: Db;
    store: ObjectStore;
    producer: Producer;
    counters: WindowCounters;
  }
}

export const clientsPlugin = fp(
  async (app: FastifyInstance, opts: { config: ApiConfig; clients?: Partial<AppClients> | undefined }) => {
    const { config } = opts;
    const given = opts.clients ?? {};
    const db = given.db ?? createDb(config.databaseUrl, { connectTimeoutMs: config.dependencyTimeoutMs });
    const store = given.store ?? createObjectStore(config.storage);
    const producer = given.producer ?? createProducer(config.redisUrl, { prefix: config.queuePrefix, timeoutMs: config.dependencyTimeoutMs });
    app.decorate('config', config);
    app.decorate('db', db);
    app.decorate('store', store);
    const counters = given.counters ?? createWindowCounters(config.redisUrl, { prefix: config.queuePrefix, timeoutMs: config.dependencyTimeoutMs });
    app.decorate('producer', producer);
    app.decorate('counters', counters);
    app.addHook('onClose', async () => {
      // Clients passed in belong to the caller, who closes them.
      if (!given.producer) await producer.close().catch((err: unknown) => app.log.warn({ err }, 'closing the queue producer failed'));
      if (!given.counters) await counters.close();
      if (!given.db) await db.close().catch((err: unknown) => app.log.warn({ err }, 'closing the database failed'));
      if (!given.store) store.close();
    });
  },
  { name: 'pssr-clients', fastify: '5.x' },
);
