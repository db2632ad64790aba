// The virtual module engine/bundle.ts generates: the project files the jobs read at run time
// (project-relative path → base64 content) and a hash of them all.
declare module 'sluice-runtime-files' {
  export const files: Record<string, string>;
  export const hash: string;
}
