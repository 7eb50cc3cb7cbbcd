/** The hashwall release this source tree builds. Kept in step with deno.json "version". */
export const VERSION = "0.1.0";
