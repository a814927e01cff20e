/**
 * node:sqlite, as far as writer-part-cutting.test.ts uses it: the unit tests
 * run in Node but are type-checked with the Workers' types, not Node's.
 */
declare module "node:sqlite" {
  export class DatabaseSync {
    constructor(path: string);
    exec(sql: string): void;
    prepare(sql: string): { all(...parameters: (string | number | null | Uint8Array)[]): unknown[] };
  }
}
