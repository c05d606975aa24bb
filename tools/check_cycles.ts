/**
 * Fails when files in `src/` or `plugins/` import each other in a cycle,
 * listing every cycle (`deno task check` runs it). The import graph is the one
 * `deno info --json` resolves, type-only imports included: a cycle of types is
 * still two modules that cannot be read one without the other.
 *
 * Usage: `deno run --allow-read --allow-run tools/check_cycles.ts [dir ...]`
 * (default `src plugins`, relative to the working directory).
 *
 * @module
 */

import { join, relative } from "node:path";

/** Who imports whom: each module and the modules it imports. */
export type ImportGraph = ReadonlyMap<string, readonly string[]>;

/** The strongly connected groups of `graph` with more than one module or a self-import. */
function tangledGroups(graph: ImportGraph): string[][] {
  // Tarjan's algorithm, iterative so that deep graphs cannot overflow the stack.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  let next = 0;
  for (const start of graph.keys()) {
    if (index.has(start)) continue;
    const work: { node: string; edge: number }[] = [{ node: start, edge: 0 }];
    index.set(start, next);
    low.set(start, next++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const frame = work[work.length - 1];
      const edges = graph.get(frame.node) ?? [];
      if (frame.edge < edges.length) {
        const to = edges[frame.edge++];
        if (!index.has(to)) {
          index.set(to, next);
          low.set(to, next++);
          stack.push(to);
          onStack.add(to);
          work.push({ node: to, edge: 0 });
        } else if (onStack.has(to)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(to)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) !== index.get(frame.node)) continue;
      const group: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        group.push(member);
      } while (member !== frame.node);
      if (group.length > 1 || edges.includes(frame.node)) groups.push(group);
    }
  }
  return groups;
}

/** The shortest path from `from` back to itself inside `group`, by breadth-first search. */
function shortestCycle(graph: ImportGraph, group: ReadonlySet<string>, from: string): string[] {
  const previous = new Map<string, string>();
  const queue = [from];
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i];
    for (const to of graph.get(node) ?? []) {
      if (!group.has(to)) continue;
      if (to === from) {
        const path = [node];
        while (path[0] !== from) path.unshift(previous.get(path[0])!);
        return [...path, from];
      }
      if (previous.has(to)) continue;
      previous.set(to, node);
      queue.push(to);
    }
  }
  return [];
}

/**
 * The import cycles of `graph`: for each module that is part of one, the
 * shortest cycle through it, each cycle once (starting at its smallest
 * module name) and ending where it starts. Empty when there is none.
 *
 * @example
 * ```ts
 * findCycles(new Map([["a", ["b"]], ["b", ["a"]], ["c", ["a"]]])); // [["a", "b", "a"]]
 * ```
 */
export function findCycles(graph: ImportGraph): string[][] {
  const seen = new Set<string>();
  const cycles: string[][] = [];
  for (const group of tangledGroups(graph)) {
    const members = new Set(group);
    for (const module of [...group].sort()) {
      const cycle = shortestCycle(graph, members, module).slice(0, -1);
      const first = cycle.indexOf([...cycle].sort()[0]);
      const rotated = [...cycle.slice(first), ...cycle.slice(0, first)];
      const key = rotated.join("\n");
      if (seen.has(key)) continue;
      seen.add(key);
      cycles.push([...rotated, rotated[0]]);
    }
  }
  return cycles.sort((a, b) => a.join("\n").localeCompare(b.join("\n")));
}

/** What `deno info --json` says of one module. */
interface InfoModule {
  readonly specifier: string;
  readonly error?: string;
  readonly dependencies?: readonly {
    readonly code?: { readonly specifier: string };
    readonly type?: { readonly specifier: string };
  }[];
}

/** The modules `deno info --json` resolves from `root`. */
async function denoInfo(root: string): Promise<InfoModule[]> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", root],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`deno info ${root} failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  return JSON.parse(new TextDecoder().decode(output.stdout)).modules;
}

/** Every `.ts` file under `dir`, sorted. */
async function typeScriptFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) files.push(...await typeScriptFiles(path));
    else if (entry.isFile && entry.name.endsWith(".ts")) files.push(path);
  }
  return files.sort();
}

/**
 * The import graph of the files under `dirs` (relative to `root`), named
 * relative to `root`, and the modules that did not resolve.
 */
export async function importGraph(
  dirs: readonly string[],
  root: string = Deno.cwd(),
): Promise<{ graph: ImportGraph; errors: string[] }> {
  const name = (specifier: string) => relative(root, new URL(specifier).pathname);
  const inside = (specifier: string) =>
    specifier.startsWith("file:") &&
    dirs.some((dir) => !relative(dir, name(specifier)).startsWith(".."));
  const graph = new Map<string, string[]>();
  const errors: string[] = [];
  for (const dir of dirs) {
    for (const file of await typeScriptFiles(join(root, dir))) {
      if (graph.has(relative(root, file))) continue;
      // One `deno info` resolves everything the file reaches; later files are mostly known.
      for (const module of await denoInfo(file)) {
        const from = name(module.specifier);
        if (!inside(module.specifier) || graph.has(from)) continue;
        if (module.error !== undefined) errors.push(`${from}: ${module.error}`);
        const to = (module.dependencies ?? [])
          .map((d) => d.code?.specifier ?? d.type?.specifier)
          .filter((s): s is string => s !== undefined && inside(s))
          .map(name);
        graph.set(from, [...new Set(to)]);
      }
    }
  }
  return { graph, errors };
}

if (import.meta.main) {
  const dirs = Deno.args.length > 0 ? Deno.args : ["src", "plugins"];
  const { graph, errors } = await importGraph(dirs);
  for (const error of errors) console.error(`warning: ${error}`);
  const cycles = findCycles(graph);
  if (cycles.length === 0) {
    console.log(`no import cycles among ${graph.size} modules in ${dirs.join(", ")}`);
  } else {
    console.error(`import cycles in ${dirs.join(", ")} (${cycles.length}):`);
    for (const cycle of cycles) console.error(`  ${cycle.join(" → ")}`);
    Deno.exit(1);
  }
}
