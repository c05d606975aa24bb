/**
 * A minimal, bounded XML reader for small documents such as IMDN
 * (RFC 5438 §7.2): elements with namespaces, attributes, text, CDATA and
 * comments. No DTD (a `<!DOCTYPE` is refused, so no entity is ever defined
 * or expanded: only the five predefined entities and character references
 * are read), no external anything, bounded size, depth and element count.
 *
 * @module
 */

import { CpimError } from "./error.ts";

/** An element: its namespace URI (empty when none), local name, children and text. */
export interface XmlElement {
  /** The namespace URI the element's prefix (or the default namespace) is bound to. */
  readonly ns: string;
  /** The local name. */
  readonly local: string;
  /** Child elements in order. */
  readonly children: readonly XmlElement[];
  /** The element's own text (not its children's), entities resolved. */
  readonly text: string;
}

/** Bounds of {@linkcode parseXml}. */
export interface XmlLimits {
  /** Most characters of the document. */
  readonly maxChars: number;
  /** Deepest nesting of elements. */
  readonly maxDepth: number;
  /** Most elements. */
  readonly maxElements: number;
}

const NAME = /[A-Za-z_][A-Za-z0-9._-]*(?::[A-Za-z_][A-Za-z0-9._-]*)?/y;
const ENTITIES: Readonly<Record<string, string>> = {
  lt: "<",
  gt: ">",
  amp: "&",
  quot: '"',
  apos: "'",
};
const XML_NS = "http://www.w3.org/XML/1998/namespace";

interface Open {
  readonly name: string;
  readonly scope: Map<string, string>;
  readonly children: XmlElement[];
  text: string;
  readonly finish: (text: string) => XmlElement;
}

function bad(reason: string): CpimError {
  return new CpimError("malformed-imdn", `malformed XML: ${reason}`);
}

/** `text` with `&…;` references resolved; any other entity is an error (no DTD defines one). */
function unescape(text: string): string {
  return text.replace(/&([^;&]{0,10});|&/g, (all, ref: string | undefined) => {
    if (ref === undefined) throw bad("a bare & in text");
    if (ref in ENTITIES) return ENTITIES[ref];
    const m = /^#(?:x([0-9A-Fa-f]{1,6})|([0-9]{1,7}))$/.exec(ref);
    const code = m ? parseInt(m[1] ?? m[2], m[1] ? 16 : 10) : NaN;
    if (Number.isNaN(code) || code === 0 || code > 0x10ffff || (code >= 0xd800 && code < 0xe000)) {
      throw bad(`unknown entity reference ${all.length > 12 ? "" : all}`.trim());
    }
    return String.fromCodePoint(code);
  });
}

/**
 * Parses one XML document into its root element.
 *
 * @throws {CpimError} `malformed-imdn` for anything that is not well-formed
 * (or uses a DTD), `too-large` past `limits`.
 */
export function parseXml(source: string, limits: XmlLimits): XmlElement {
  if (source.length > limits.maxChars) {
    throw new CpimError("too-large", `XML document over ${limits.maxChars} characters`);
  }
  let at = source.startsWith("\uFEFF") ? 1 : 0;
  const stack: Open[] = [];
  let root: XmlElement | undefined;
  let elements = 0;
  const expect = (literal: string, what: string): number => {
    const end = source.indexOf(literal, at);
    if (end < 0) throw bad(`unterminated ${what}`);
    return end;
  };
  while (at < source.length) {
    const open = stack[stack.length - 1];
    if (source[at] !== "<") {
      const end = source.indexOf("<", at);
      const text = source.slice(at, end < 0 ? source.length : end);
      if (open) open.text += unescape(text);
      else if (text.trim() !== "") throw bad("text outside the root element");
      at = end < 0 ? source.length : end;
      continue;
    }
    if (source.startsWith("<?", at)) {
      // The XML declaration or a processing instruction: read past, never acted on.
      at = expect("?>", "processing instruction") + 2;
    } else if (source.startsWith("<!--", at)) {
      at = expect("-->", "comment") + 3;
    } else if (source.startsWith("<![CDATA[", at)) {
      if (!open) throw bad("CDATA outside the root element");
      const end = expect("]]>", "CDATA section");
      open.text += source.slice(at + 9, end);
      at = end + 3;
    } else if (source.startsWith("<!", at)) {
      throw bad("document type declarations are not accepted");
    } else if (source.startsWith("</", at)) {
      const end = expect(">", "end tag");
      const name = source.slice(at + 2, end).trim();
      if (!open || open.name !== name) throw bad("end tag does not match its start tag");
      stack.pop();
      const element = open.finish(open.text);
      if (stack.length > 0) stack[stack.length - 1].children.push(element);
      else root = element;
      at = end + 1;
    } else {
      if (root !== undefined) throw bad("more than one root element");
      if (++elements > limits.maxElements) {
        throw new CpimError("too-large", `more than ${limits.maxElements} XML elements`);
      }
      if (stack.length >= limits.maxDepth) {
        throw new CpimError("too-large", `XML nested deeper than ${limits.maxDepth}`);
      }
      const tag = readTag(source, at + 1, open?.scope ?? new Map([["xml", XML_NS]]));
      at = tag.end;
      const children: XmlElement[] = [];
      const element: Open = {
        name: tag.name,
        scope: tag.scope,
        children,
        text: "",
        finish: (text) => ({ ns: tag.ns, local: tag.local, children, text }),
      };
      if (tag.selfClosing) {
        const done = element.finish("");
        if (open) open.children.push(done);
        else root = done;
      } else {
        stack.push(element);
      }
    }
  }
  if (stack.length > 0 || root === undefined) throw bad("the document ends inside an element");
  return root;
}

interface Tag {
  readonly name: string;
  readonly ns: string;
  readonly local: string;
  readonly scope: Map<string, string>;
  readonly selfClosing: boolean;
  readonly end: number;
}

/** Reads a start tag from `at` (after `<`) with its attributes and namespace declarations. */
function readTag(source: string, at: number, parent: Map<string, string>): Tag {
  NAME.lastIndex = at;
  const name = NAME.exec(source)?.[0];
  if (name === undefined) throw bad("an element has no valid name");
  let i = at + name.length;
  const scope = new Map(parent);
  const seen = new Set<string>();
  for (;;) {
    const space = /[ \t\r\n]*/y;
    space.lastIndex = i;
    i += space.exec(source)![0].length;
    if (source.startsWith("/>", i) || source[i] === ">") break;
    if (i === at + name.length || !/[ \t\r\n]/.test(source[i - 1])) {
      throw bad("attributes must be separated by white space");
    }
    const attr = /([A-Za-z_][A-Za-z0-9._:-]*)[ \t\r\n]*=[ \t\r\n]*("([^"<]*)"|'([^'<]*)')/y;
    attr.lastIndex = i;
    const m = attr.exec(source);
    if (m === null) throw bad("an attribute is malformed or the tag is unterminated");
    if (seen.has(m[1])) throw bad("an attribute appears twice");
    seen.add(m[1]);
    const value = unescape(m[3] ?? m[4]);
    if (m[1] === "xmlns") scope.set("", value);
    else if (m[1].startsWith("xmlns:")) scope.set(m[1].slice(6), value);
    i += m[0].length;
  }
  const selfClosing = source[i] === "/";
  const colon = name.indexOf(":");
  const prefix = colon < 0 ? "" : name.slice(0, colon);
  const ns = scope.get(prefix);
  if (prefix !== "" && ns === undefined) throw bad("an element uses an undeclared prefix");
  return {
    name,
    ns: ns ?? "",
    local: colon < 0 ? name : name.slice(colon + 1),
    scope,
    selfClosing,
    end: i + (selfClosing ? 2 : 1),
  };
}

/** Escapes text for element content or a quoted attribute value. */
export function escapeXml(text: string): string {
  return text.replace(
    /[<>&"']/g,
    (c) => `&${Object.keys(ENTITIES).find((k) => ENTITIES[k] === c)};`,
  );
}
