export * from './errors.js';
export * from './framing.js';
export * from './paths.js';
export * from './types.js';
export * from './text.js';
export * from './narrowing.js';
