-- Embeddings stay in the table's own rows instead of TOAST. A vector(1536)
-- is 6 KB and does not compress, so by default every row's vector lives in
-- four TOAST chunks behind the TOAST index: an exact per-user search of
-- 1,000 memories touched ~5,600 buffers instead of ~1,000 and took 1.5-2x
-- as long (pgbench, alternating the two layouts on this machine; see
-- docs/benchmarks.md). A row still fits a page: content, metadata and the
-- full-text column are moved to TOAST first when a row is large.
-- Written by hand: Atlas does not model column storage, so `migrate diff`
-- neither plans nor undoes it. It applies to rows written from now on.
ALTER TABLE "memories" ALTER COLUMN "embedding" SET STORAGE PLAIN;
ALTER TABLE "kg_entities" ALTER COLUMN "embedding" SET STORAGE PLAIN;
