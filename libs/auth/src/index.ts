export * from './scopes.js';
export * from './tokens-file.js';
export * from './authorizer.js';
export * from './scope.guard.js';
