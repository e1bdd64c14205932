/** The config module's public surface: load, locate, format, and the contract types. */
export type * from './types.js';
export { loadConfigFile, loadConfigText } from './load.js';
export type { LoadOptions } from './load.js';
export { formatIssue, formatIssues } from './format.js';
export { DEFAULT_CONFIG_PATH, resolveConfigPath } from './locate.js';
export type { ResolveConfigOptions, ResolvedConfigPath } from './locate.js';
export { interpolateString, interpolateTree } from './interpolate.js';
export { createLocator, positionOf } from './positions.js';
export type { Locator, Position } from './positions.js';
export { deriveName, NAME_PATTERN } from './names.js';
export { parseDuration } from './duration.js';
