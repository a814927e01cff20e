/** Gives the runtime-listing project's D1 database (INDEX) the upload index's schema, migrations/ as `npm start` applies it. */
import { applyD1Migrations, env } from "cloudflare:test";

await applyD1Migrations(env.INDEX, env.INDEX_MIGRATIONS);
