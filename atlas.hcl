// The project's migration setup, for people with the Atlas CLI. The same
// steps run without it through `jarvis migrate` (the ariga.io/atlas library):
//
//   jarvis migrate diff <name>   new file from ent/schema (+ RLS for owned tables)
//   jarvis migrate apply|status  revisions in atlas_schema_revisions, as the CLI keeps them
//   jarvis migrate lint          the same sqlcheck analyzers
//
// Write new migrations with `jarvis migrate diff`: besides Atlas's table
// changes it emits the pgvector extension, the service role and the
// row-level security of every table marked schema.Owned, which `atlas
// migrate diff` from ent:// does not know about.

variable "url" {
  type    = string
  default = getenv("MIGRATE_DATABASE_URL")
}

env "local" {
  // The desired state: ent/schema.
  src = "ent://ent/schema"
  // A throw-away database with pgvector, to replay and normalize.
  dev = "docker://pgvector/pgvector/pg16/dev?search_path=public"
  url = var.url

  migration {
    dir              = "file://ent/migrate/migrations"
    revisions_schema = "atlas_schema_revisions"
  }

  lint {
    destructive {
      error = true
    }
    incompatible {
      error = true
    }
  }
}
