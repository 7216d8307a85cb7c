-- Every insert or update of a job is announced on the channel "pssr_jobs:<schema>" (NOTIFY), so API
-- processes push server-sent events without polling Postgres per stream, whichever process wrote the row.
-- The payload carries what a progress event needs; listeners read the row for anything else.
CREATE FUNCTION "pssr_notify_job_change"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify(
    left('pssr_jobs:' || TG_TABLE_SCHEMA, 63),
    json_build_object('id', NEW."id", 'groupId', NEW."groupId", 'status', NEW."status", 'progress', NEW."progress")::text
  );
  RETURN NULL;
END
$$;

-- CreateTrigger
CREATE TRIGGER "Job_notify_change" AFTER INSERT OR UPDATE ON "Job" FOR EACH ROW EXECUTE FUNCTION "pssr_notify_job_change"();
