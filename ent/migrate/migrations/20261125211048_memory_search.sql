-- Modify "kg_entities" table
ALTER TABLE "kg_entities" ADD COLUMN "embedding_model" character varying NULL, ADD COLUMN "redactions" jsonb NOT NULL DEFAULT '{}';
-- Modify "memories" table
ALTER TABLE "memories" ADD COLUMN "redactions" jsonb NOT NULL DEFAULT '{}', ADD COLUMN "search_vector" tsvector NULL;
-- Create index "memory_search_vector" to table: "memories"
CREATE INDEX "memory_search_vector" ON "memories" USING gin ("search_vector");
-- Create index "memory_user_id_embedding_model" to table: "memories"
CREATE INDEX "memory_user_id_embedding_model" ON "memories" ("user_id", "embedding_model");
