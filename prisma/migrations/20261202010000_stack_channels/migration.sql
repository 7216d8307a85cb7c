-- How many channels a stack's file holds (a restore reads one: the job's `channel` option).
ALTER TABLE "Stack" ADD COLUMN "channels" INTEGER;
