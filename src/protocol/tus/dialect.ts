import type { Dialect } from "../shared/dialect-contract";
import { handleDelete } from "./methods/delete";
import { handleGet } from "./methods/get";
import { handleHead } from "./methods/head";
import { handleOptions } from "./methods/options";
import { handlePatch } from "./methods/patch";
import { handlePost } from "./methods/post";
import { errorResponse } from "./respond";

/** tus 1.0.0: one handler per method. */
export const tusDialect: Dialect = {
  name: "tus 1.0.0",
  handlers: {
    collectionOptions: handleOptions,
    create: handlePost,
    options: handleOptions,
    head: handleHead,
    append: handlePatch,
    get: handleGet,
    delete: handleDelete,
  },
  errorResponse,
};
