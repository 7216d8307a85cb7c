-- The trust report of a restore job (issue 8): its consistency and uncertainty map stacks and the stored
-- report.json and preview.png, one row per job, written with the job's success. A deleted map stack leaves
-- the report (its id becomes null).

-- CreateTable
CREATE TABLE "JobReport" (
    "jobId" UUID NOT NULL,
    "consistencyStackId" UUID,
    "uncertaintyStackId" UUID,
    "reportKey" TEXT NOT NULL,
    "previewKey" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "JobReport_pkey" PRIMARY KEY ("jobId")
);

-- CreateIndex
CREATE UNIQUE INDEX "JobReport_consistencyStackId_key" ON "JobReport"("consistencyStackId");

-- CreateIndex
CREATE UNIQUE INDEX "JobReport_uncertaintyStackId_key" ON "JobReport"("uncertaintyStackId");

-- AddForeignKey
ALTER TABLE "JobReport" ADD CONSTRAINT "JobReport_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "Job"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "JobReport" ADD CONSTRAINT "JobReport_consistencyStackId_fkey" FOREIGN KEY ("consistencyStackId") REFERENCES "Stack"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "JobReport" ADD CONSTRAINT "JobReport_uncertaintyStackId_fkey" FOREIGN KEY ("uncertaintyStackId") REFERENCES "Stack"("id") ON DELETE SET NULL ON UPDATE CASCADE;
