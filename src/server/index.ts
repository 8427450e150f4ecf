/** The OpenAI-compatible HTTP server. */
export { createServer, buildApp, SERVER_DEFAULTS, type ServerOptions, type NanoServer } from './server.js';
export { DEFAULT_CHAT_TEMPLATE } from './chat-template.js';
