// The OpenAI-compatible HTTP server behind `ingot serve`: /v1/completions,
// /v1/chat/completions (JSON or server-sent events), /v1/models, /health and
// /metrics (Prometheus text) over one Engine. See docs/serving.md.
//
// Threading: start() runs Engine::run() on an engine thread and the HTTP
// listener on its own thread with a pool of handler threads. A handler turns
// the request body into Engine requests whose event callback (engine thread)
// only pushes into a per-request queue; the handler thread waits on that
// queue and writes the JSON response or the SSE stream. A stream whose client
// has gone away is aborted at the next failed write (tokens or a keep-alive
// comment every second), which frees its KV blocks.
//
// Shutdown: drain() refuses new generation requests with 503, lets the engine
// finish every queued and running request (Engine::stop(true)), waits for
// their responses to be written, then closes the listener; wait() returns
// after that.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace ingot {

class Engine;

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback unless asked otherwise
  int port = 8000;                 // 0: any free port (see Server::port())
  std::string apiKey;              // non-empty: /v1/* needs "Authorization: Bearer KEY"
  std::string modelName = "ingot"; // the `model` clients name and responses carry
  std::string tokenizerConfigJson; // the plan's tokenizer_config.json (chat template, special tokens)
  std::string chatTemplate;        // override: a built-in name or a file (see chat_template.h)
  size_t maxBodyBytes = size_t(4) << 20; // larger request bodies: 413
  int64_t maxPromptTokens = 0;     // longer prompts: 400; 0: the engine's maxModelLen - 1
  int64_t maxTokens = 0;           // largest max_tokens accepted; 0: the engine's maxModelLen
  int maxN = 16;                   // largest n
  int maxPrompts = 64;             // prompts in one /v1/completions request
  int maxLogprobs = 20;            // largest logprobs / top_logprobs
  int httpThreads = 256;           // handler threads (each in-flight request holds one)
  double drainTimeoutSeconds = 0;  // > 0: abort what is still running after this long
  double keepAliveSeconds = 1.0;   // SSE comment after this long without a token
};

class Server {
public:
  // The engine must outlive the server and must not be running yet.
  Server(Engine &engine, ServerOptions opts);
  ~Server();
  Server(const Server &) = delete;
  Server &operator=(const Server &) = delete;

  // Binds (throws ingot::Error naming host:port when it cannot), then starts
  // the engine thread and the HTTP listener.
  void start();
  // The bound port (after start()).
  int port() const;
  // Begins the graceful shutdown described above; returns at once. Safe to
  // call more than once and from any thread (not from a signal handler).
  void drain();
  // Aborts every in-flight request (a second SIGINT): they end at once with
  // finish_reason "abort"; the drain then completes quickly.
  void abortAll();
  // Blocks until the shutdown has completed.
  void wait();
  // The /metrics text (for tests and logs).
  std::string metricsText() const;

  struct Impl;

private:
  std::unique_ptr<Impl> impl_;
};

} // namespace ingot
