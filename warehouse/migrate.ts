import { createDatabaseIfMissing, runSerialisedStatements } from '../adapters/postgres';
import type { SluiceConfig } from '../config';
import { atomicEventsDdlPostgres } from './atomic-events';

// The idempotent migrations of the tables Sluice owns in PostgreSQL: atomic.events (from its DDL
// in atomic-events.ts) and the `sluice` schema (the load manifest, the views, the watermark,
// stream checkpoints, ...). Shredded tables are created by the loads that need them (migration.ts).

export const SLUICE_SCHEMA_DDL: string[] = [
  `CREATE SCHEMA IF NOT EXISTS "sluice"`,
  `CREATE TABLE IF NOT EXISTS "sluice"."load_manifest" (
     "run_id" text PRIMARY KEY,
     "event_count" bigint NOT NULL,
     "window_from" timestamp,
     "window_to" timestamp,
     "loaded_at" timestamptz NOT NULL DEFAULT now())`,
  // Which run claimed which input file: two runs (a manual one beside a scheduled one) can never
  // stage the same file, and a retried stage finds the files its earlier attempt claimed.
  `CREATE TABLE IF NOT EXISTS "sluice"."staged_files" (
     "key" text PRIMARY KEY,
     "run_id" text NOT NULL,
     "staged_at" timestamptz NOT NULL DEFAULT now())`,
  `CREATE TABLE IF NOT EXISTS "sluice"."batch_watermark" (
     "id" smallint PRIMARY KEY DEFAULT 1 CHECK ("id" = 1),
     "watermark" timestamp NOT NULL,
     "run_id" text NOT NULL,
     "updated_at" timestamptz NOT NULL DEFAULT now())`,
  // Views (views/definitions.ts): per grain (minute, hour) and bucket, events by type and the
  // distinct users and sessions. Batch rows are recomputed from atomic.events per run window.
  `CREATE TABLE IF NOT EXISTS "sluice"."batch_view_events" (
     "grain" text NOT NULL CHECK ("grain" IN ('minute', 'hour')),
     "bucket" timestamp NOT NULL,
     "event_name" text NOT NULL,
     "events" bigint NOT NULL,
     "run_id" text NOT NULL,
     PRIMARY KEY ("grain", "bucket", "event_name"))`,
  `CREATE TABLE IF NOT EXISTS "sluice"."batch_view_uniques" (
     "grain" text NOT NULL CHECK ("grain" IN ('minute', 'hour')),
     "bucket" timestamp NOT NULL,
     "users" bigint NOT NULL,
     "sessions" bigint NOT NULL,
     "run_id" text NOT NULL,
     PRIMARY KEY ("grain", "bucket"))`,
  // Realtime rows are incremented in the same transaction as each shard's checkpoint. Distinct
  // counts keep their members, so a user seen on two shards is counted once, as batch does.
  `CREATE TABLE IF NOT EXISTS "sluice"."realtime_view_events" (
     "grain" text NOT NULL CHECK ("grain" IN ('minute', 'hour')),
     "bucket" timestamp NOT NULL,
     "event_name" text NOT NULL,
     "events" bigint NOT NULL,
     PRIMARY KEY ("grain", "bucket", "event_name"))`,
  `CREATE TABLE IF NOT EXISTS "sluice"."realtime_view_members" (
     "grain" text NOT NULL CHECK ("grain" IN ('minute', 'hour')),
     "bucket" timestamp NOT NULL,
     "kind" text NOT NULL CHECK ("kind" IN ('user', 'session')),
     "member" text NOT NULL,
     PRIMARY KEY ("grain", "bucket", "kind", "member"))`,
  // Events the realtime views have counted, by (event_id, fingerprint): a record the enriched
  // stream carries twice (stream enrich is at-least-once) is counted once.
  `CREATE TABLE IF NOT EXISTS "sluice"."realtime_seen_events" (
     "minute" timestamp NOT NULL,
     "event_key" text NOT NULL,
     PRIMARY KEY ("minute", "event_key"))`,
  // The bad-rows sink's searchable copy of the bad stream (the files under bad/in/ are the
  // originals). One row per record, keyed by its position, so a replayed record is stored once.
  `CREATE TABLE IF NOT EXISTS "sluice"."bad_rows" (
     "stream" text NOT NULL,
     "shard_id" text NOT NULL,
     "sequence_number" text NOT NULL,
     "received_at" timestamp NOT NULL,
     "failure_tstamp" timestamp,
     "type" text NOT NULL,
     "schema" text,
     "processor" text,
     "summary" text NOT NULL,
     "row" jsonb NOT NULL,
     PRIMARY KEY ("stream", "shard_id", "sequence_number"))`,
  `CREATE INDEX IF NOT EXISTS "bad_rows_received_at_idx" ON "sluice"."bad_rows" ("received_at")`,
  `CREATE INDEX IF NOT EXISTS "bad_rows_type_idx" ON "sluice"."bad_rows" ("type", "received_at")`,
  // Every file a speed-layer file sink committed (speed/file-sink.ts): its shard's sequence range
  // and the checkpoint it followed. Fixes file boundaries, so a rewind re-writes the same keys.
  `CREATE TABLE IF NOT EXISTS "sluice"."sink_files" (
     "stream" text NOT NULL,
     "processor" text NOT NULL,
     "shard_id" text NOT NULL,
     "first_sequence" numeric NOT NULL,
     "last_sequence" numeric NOT NULL,
     "after_sequence" numeric,
     "object_key" text NOT NULL,
     "records" integer NOT NULL,
     "published" boolean NOT NULL DEFAULT false,
     "pending_deleted" boolean NOT NULL DEFAULT false,
     "committed_at" timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY ("stream", "processor", "shard_id", "first_sequence"))`,
  // Retention (activities/retention.ts) finds old rows by commit time, and a claim's catalog row by key.
  `CREATE INDEX IF NOT EXISTS "sink_files_committed_at_idx" ON "sluice"."sink_files" ("committed_at")`,
  `CREATE INDEX IF NOT EXISTS "sink_files_object_key_idx" ON "sluice"."sink_files" ("object_key")`,
  `CREATE INDEX IF NOT EXISTS "staged_files_staged_at_idx" ON "sluice"."staged_files" ("staged_at")`,
  `CREATE TABLE IF NOT EXISTS "sluice"."stream_checkpoints" (
     "stream" text NOT NULL,
     "processor" text NOT NULL,
     "shard_id" text NOT NULL,
     "sequence_number" text NOT NULL,
     "updated_at" timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY ("stream", "processor", "shard_id"))`,
  // Windows whose batch load an operator skipped (views/owed-windows.ts): the realtime views keep
  // answering them, and their realtime rows are not retired, until a reprocess loads the window.
  `CREATE TABLE IF NOT EXISTS "sluice"."owed_windows" (
     "run_id" text PRIMARY KEY,
     "window_from" timestamp NOT NULL,
     "window_to" timestamp NOT NULL,
     "reason" text NOT NULL,
     "recorded_at" timestamptz NOT NULL DEFAULT now())`,
  // The event keys a batch load replaces (warehouse/postgres-load-steps.ts replaceRunEvents): rows
  // live only inside the loading transaction (tagged with its id), so nothing here survives a
  // commit. Not a temporary table, which a prepared (two-phase) transaction may not touch.
  `CREATE UNLOGGED TABLE IF NOT EXISTS "sluice"."load_keys" (
     "txid" bigint NOT NULL DEFAULT txid_current(),
     "event_id" char(36) NOT NULL,
     "collector_tstamp" timestamp NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS "load_keys_txid_idx" ON "sluice"."load_keys" ("txid")`,
];

/** The advisory lock that serialises concurrent migrations (several processes start at once). */
const MIGRATION_LOCK = 7407;

/** Creates the database (when missing) and every table; safe to run on each start. */
export async function migrateWarehouse(config: SluiceConfig): Promise<void> {
  // The local cluster starts with only `postgres`; create ours on first start.
  if (config.warehouse.postgresMode === 'local') await createDatabaseIfMissing(config.warehouse.postgresUrl);
  await runSerialisedStatements(config.warehouse.postgresUrl, [...atomicEventsDdlPostgres(), ...SLUICE_SCHEMA_DDL], MIGRATION_LOCK);
}
