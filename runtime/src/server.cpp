// The HTTP layer of `ingot serve` (see server.h for the threading and the
// shutdown protocol). Invariants:
//  - every generation request is counted in `inflight` from the moment its
//    engine requests are added until its response has been written (or the
//    connection dropped); drain() waits for that count to reach zero;
//  - a request whose client is gone is aborted in the engine at once: the
//    handler finds its connection's socket (by the peer address httplib
//    reports) and polls it for a hang-up while it waits, and any failed
//    write aborts too; Engine::abort frees the KV blocks before the next step;
//  - engine callbacks only record metrics and push to the request's queue.
#include "ingot/runtime/server.h"
#include "server_impl.h"

#include "ingot/runtime/tokenizer.h"

#include <httplib.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <deque>
#include <random>
#include <thread>
#include <unordered_map>

namespace ingot {

using namespace server;
using Clock = std::chrono::steady_clock;

namespace {

std::string dumpJson(const json &j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void sendError(httplib::Response &res, int status, const std::string &message, const std::string &param = {},
               const std::string &code = {}) {
  res.status = status;
  res.set_content(dumpJson(errorBody(status, message, param, code)), "application/json");
}

// The socket of the connection whose peer is addr:port (the server side of
// it), found among this process's descriptors; -1 when not found.
int findConnectionSocket(const std::string &addr, int port) {
  if (port <= 0)
    return -1;
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return -1;
  int found = -1;
  const int self = dirfd(d);
  while (dirent *e = readdir(d)) {
    char *end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (!end || *end || fd == self)
      continue;
    struct stat st;
    if (fstat(int(fd), &st) != 0 || !S_ISSOCK(st.st_mode))
      continue;
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getpeername(int(fd), reinterpret_cast<sockaddr *>(&ss), &len) != 0)
      continue;
    char buf[INET6_ADDRSTRLEN] = {0};
    int p = -1;
    if (ss.ss_family == AF_INET) {
      const auto *a = reinterpret_cast<const sockaddr_in *>(&ss);
      p = ntohs(a->sin_port);
      inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    } else if (ss.ss_family == AF_INET6) {
      const auto *a = reinterpret_cast<const sockaddr_in6 *>(&ss);
      p = ntohs(a->sin6_port);
      inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    }
    if (p == port && addr == buf) {
      found = int(fd);
      break;
    }
  }
  closedir(d);
  return found;
}

// Shuts down every accepted connection of the server listening on `port`
// (sockets whose local port is `port` and that have a peer): idle keep-alive
// connections would otherwise hold their handler threads until the
// keep-alive timeout when the server stops.
void shutdownConnections(int port) {
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return;
  const int self = dirfd(d);
  while (dirent *e = readdir(d)) {
    char *end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (!end || *end || fd == self)
      continue;
    struct stat st;
    if (fstat(int(fd), &st) != 0 || !S_ISSOCK(st.st_mode))
      continue;
    sockaddr_storage local{}, peer{};
    socklen_t ll = sizeof local, pl = sizeof peer;
    if (getsockname(int(fd), reinterpret_cast<sockaddr *>(&local), &ll) != 0 ||
        getpeername(int(fd), reinterpret_cast<sockaddr *>(&peer), &pl) != 0)
      continue;
    int lport = -1;
    if (local.ss_family == AF_INET)
      lport = ntohs(reinterpret_cast<const sockaddr_in *>(&local)->sin_port);
    else if (local.ss_family == AF_INET6)
      lport = ntohs(reinterpret_cast<const sockaddr_in6 *>(&local)->sin6_port);
    if (lport == port)
      ::shutdown(int(fd), SHUT_RDWR);
  }
  closedir(d);
}

// True when the peer has closed (or reset) the connection.
bool peerGone(int fd) {
  if (fd < 0)
    return false;
  pollfd p{fd, POLLRDHUP, 0};
  if (poll(&p, 1, 0) <= 0)
    return false;
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

std::string randomHex(size_t n) {
  static std::mutex m;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard<std::mutex> lk(m);
  static const char *hex = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i)
    s += hex[rng() & 15];
  return s;
}

int64_t unixNow() {
  return int64_t(std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count());
}

} // namespace

// httplib::Server with access to its listening socket: Debian's compiled
// cpp-httplib listens with a backlog of 5, which overflows (SYNs dropped,
// clients retrying after 1 s, 3 s, ...) as soon as a few dozen clients
// connect at once; start() raises it with a second listen().
class HttpServer : public httplib::Server {
public:
  int listenSocket() const { return int(svr_sock_); }
};

// One HTTP generation request: its engine requests and the events they
// deliver. Shared by the handler thread and the engine callbacks.
struct LiveRequest {
  std::mutex m;
  std::condition_variable cv;
  struct Ev {
    int index; // choice index in the response: prompt * n + choice
    TokenEvent ev;
  };
  std::deque<Ev> events;
  std::vector<std::string> engineIds;
  int choices = 0;
  int unfinished = 0; // choices without a final event (engine side)
  bool aborted = false;
  Clock::time_point arrival = Clock::now();
  // Engine-thread metric state.
  bool firstToken = false;
  std::vector<Clock::time_point> lastToken;
  std::vector<bool> hasToken;
  std::vector<bool> choiceDone; // guarded by m
};

struct Server::Impl {
  Engine &engine;
  ServerOptions opts;
  HttpServer http;
  Metrics metrics;
  ModelLimits limits;
  ChatFormat fmt;
  std::unique_ptr<ChatTemplate> chat;
  std::string chatError; // why there is no chat template (parse error)

  std::thread engineThread, httpThread, drainThread;
  std::atomic<bool> draining{false}, engineStopped{false};
  std::atomic<int64_t> inflight{0};
  int boundPort = 0;

  std::mutex m; // guards live, done, and inflight changes (for cv)
  std::condition_variable cv;
  std::unordered_map<LiveRequest *, std::weak_ptr<LiveRequest>> live;
  bool done = false;
  bool started = false;

  Impl(Engine &e, ServerOptions o) : engine(e), opts(std::move(o)) {}

  // ---- request lifecycle

  void abortLive(LiveRequest &lr) {
    {
      std::lock_guard<std::mutex> lk(lr.m);
      if (lr.aborted || lr.unfinished == 0)
        return;
      lr.aborted = true;
    }
    for (const auto &id : lr.engineIds)
      engine.abort(id);
  }

  void release(LiveRequest *lr) {
    std::lock_guard<std::mutex> lk(m);
    live.erase(lr);
    --inflight;
    cv.notify_all();
  }

  EventCallback callbackFor(const std::shared_ptr<LiveRequest> &lr, int base) {
    return [this, lr, base](const TokenEvent &ev) {
      const auto now = Clock::now();
      const int index = base + ev.choice;
      bool allDone = false;
      if (ev.token >= 0) {
        metrics.generationTokens(1);
        if (!lr->firstToken) {
          lr->firstToken = true;
          metrics.ttft.observe(std::chrono::duration<double>(now - lr->arrival).count());
        }
        if (index >= 0 && size_t(index) < lr->lastToken.size()) {
          if (lr->hasToken[size_t(index)])
            metrics.itl.observe(std::chrono::duration<double>(now - lr->lastToken[size_t(index)]).count());
          lr->lastToken[size_t(index)] = now;
          lr->hasToken[size_t(index)] = true;
        }
      }
      if (ev.finished)
        metrics.finished(ev.finishReason);
      {
        std::lock_guard<std::mutex> lk(lr->m);
        if (ev.finished && index >= 0 && size_t(index) < lr->choiceDone.size() && !lr->choiceDone[size_t(index)]) {
          lr->choiceDone[size_t(index)] = true;
          --lr->unfinished;
          allDone = lr->unfinished == 0;
        }
        lr->events.push_back({index, ev});
      }
      if (allDone)
        metrics.e2e.observe(std::chrono::duration<double>(now - lr->arrival).count());
      lr->cv.notify_all();
    };
  }

  // Adds the engine requests; on failure aborts the ones already added and
  // throws ApiError.
  std::shared_ptr<LiveRequest> submit(const ParsedRequest &p, const std::string &id) {
    auto lr = std::make_shared<LiveRequest>();
    std::vector<GenerationRequest> reqs = engineRequests(p, id);
    lr->choices = int(reqs.size()) * p.sampling.n;
    lr->unfinished = lr->choices;
    lr->lastToken.resize(size_t(lr->choices));
    lr->hasToken.resize(size_t(lr->choices));
    lr->choiceDone.resize(size_t(lr->choices));
    for (const auto &r : reqs)
      lr->engineIds.push_back(r.id);
    {
      std::lock_guard<std::mutex> lk(m);
      if (draining)
        throw ApiError(503, "the server is shutting down", "", "server_draining");
      if (engineStopped)
        throw ApiError(503, "the engine has stopped", "", "engine_stopped");
      live[lr.get()] = lr;
      ++inflight;
    }
    int64_t promptTokens = 0;
    for (size_t k = 0; k < reqs.size(); ++k) {
      promptTokens += int64_t(reqs[k].promptIds.size());
      try {
        engine.add(std::move(reqs[k]), callbackFor(lr, int(k) * p.sampling.n));
      } catch (const std::exception &e) {
        {
          std::lock_guard<std::mutex> lk(lr->m);
          lr->aborted = true;
        }
        for (size_t j = 0; j < k; ++j)
          engine.abort(lr->engineIds[j]);
        release(lr.get());
        if (dynamic_cast<const QueueFull *>(&e))
          throw ApiError(429, std::string("the server is busy: ") + e.what(), "", "queue_full");
        if (draining || dynamic_cast<const EngineStopping *>(&e))
          throw ApiError(503, "the server is shutting down", "", "server_draining");
        throw ApiError(400, e.what(), "", "invalid_request");
      }
    }
    metrics.promptTokens(promptTokens);
    return lr;
  }

  std::string tokenText(int32_t id, bool asId) const {
    if (asId)
      return "token_id:" + std::to_string(id);
    try {
      return engine.tokenizer().decode({id}, false);
    } catch (...) {
      return "";
    }
  }

  // ---- handlers

  void handleGenerate(Kind kind, const httplib::Request &req, httplib::Response &res) {
    if (draining) {
      sendError(res, 503, "the server is shutting down", "", "server_draining");
      return;
    }
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded()) {
      sendError(res, 400, "the request body is not valid JSON", "", "invalid_json");
      return;
    }
    ParsedRequest p;
    std::shared_ptr<LiveRequest> lr;
    const std::string id = (kind == Kind::Chat ? "chatcmpl-" : "cmpl-") + randomHex(24);
    try {
      if (kind == Kind::Chat && !chat && !chatError.empty())
        throw ApiError(400, "the chat template cannot be used: " + chatError, "messages", "chat_template_error");
      p = parseRequest(kind, body, limits, engine.tokenizer(), chat.get(), fmt);
      lr = submit(p, id);
    } catch (const ApiError &e) {
      sendError(res, e.status, e.what(), e.param, e.code);
      return;
    }
    const int64_t created = unixNow();
    const int sock = findConnectionSocket(req.remote_addr, req.remote_port);
    if (!p.stream)
      respondWhole(kind, p, lr, id, created, sock, res);
    else
      respondStream(kind, p, lr, id, created, sock, res);
  }

  void respondWhole(Kind kind, const ParsedRequest &p, const std::shared_ptr<LiveRequest> &lr,
                    const std::string &id, int64_t created, int sock, httplib::Response &res) {
    std::vector<ChoiceResult> choices(size_t(lr->choices));
    Usage u;
    for (const auto &pr : p.prompts)
      u.promptTokens += int64_t(pr.size());
    std::vector<int64_t> cachedPerPrompt(p.prompts.size(), 0);
    int remaining = lr->choices;
    bool gone = false;
    while (remaining > 0) {
      std::deque<LiveRequest::Ev> batch;
      {
        std::unique_lock<std::mutex> lk(lr->m);
        lr->cv.wait_for(lk, std::chrono::milliseconds(100), [&] { return !lr->events.empty(); });
        batch.swap(lr->events);
      }
      for (auto &e : batch) {
        if (e.index < 0 || e.index >= lr->choices)
          continue;
        ChoiceResult &c = choices[size_t(e.index)];
        const TokenEvent &ev = e.ev;
        c.text += ev.text;
        if (ev.token >= 0) {
          c.tokens.push_back(ev.token);
          c.logprobs.push_back(ev.logprob);
          c.top.push_back(ev.top);
        }
        if (ev.finished && !c.finished) {
          c.finished = true;
          c.finishReason = ev.finishReason;
          c.error = ev.error;
          c.completionTokens = ev.completionTokens;
          u.completionTokens += ev.completionTokens;
          const size_t k = size_t(e.index / std::max(1, p.sampling.n));
          cachedPerPrompt[k] = std::max(cachedPerPrompt[k], ev.cachedPromptTokens);
          --remaining;
        }
      }
      if (!gone && remaining > 0 && peerGone(sock)) {
        gone = true;
        abortLive(*lr); // the final events still arrive; then we return
      }
    }
    release(lr.get());
    for (int64_t c : cachedPerPrompt)
      u.cachedTokens += c;
    for (const auto &c : choices)
      if (c.finishReason == "error") {
        sendError(res, 500, "generation failed: " + c.error, "", "generation_error");
        return;
      }
    const TokenText tt = [this, &p](int32_t t) { return tokenText(t, p.tokensAsIds); };
    const json j = kind == Kind::Chat ? chatResponse(id, created, limits.modelName, choices, u, p.wantLogprobs, tt)
                                      : completionResponse(id, created, limits.modelName, choices, u,
                                                           p.wantLogprobs, tt);
    res.status = 200;
    res.set_content(dumpJson(j), "application/json");
  }

  struct StreamState {
    ParsedRequest p;
    std::shared_ptr<LiveRequest> lr;
    std::string id;
    int64_t created = 0;
    int sock = -1;
    Kind kind = Kind::Completion;
    bool started = false;
    bool finishedAll = false;
    int remaining = 0;
    Usage usage;
    std::vector<int64_t> cachedPerPrompt;
    std::vector<size_t> textLen;
    Clock::time_point lastWrite = Clock::now();
  };

  void respondStream(Kind kind, ParsedRequest &p, const std::shared_ptr<LiveRequest> &lr, const std::string &id,
                     int64_t created, int sock, httplib::Response &res) {
    auto st = std::make_shared<StreamState>();
    st->kind = kind;
    st->lr = lr;
    st->id = id;
    st->created = created;
    st->sock = sock;
    st->remaining = lr->choices;
    st->cachedPerPrompt.assign(p.prompts.size(), 0);
    st->textLen.assign(size_t(lr->choices), 0);
    for (const auto &pr : p.prompts)
      st->usage.promptTokens += int64_t(pr.size());
    st->p = std::move(p);
    res.status = 200;
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, st](size_t, httplib::DataSink &sink) { return streamStep(*st, sink); },
        [this, st](bool) {
          if (!st->finishedAll)
            abortLive(*st->lr);
          release(st->lr.get());
        });
  }

  // One call of the chunked content provider: waits briefly for events and
  // writes them as SSE chunks. Returns false to drop the connection.
  bool streamStep(StreamState &st, httplib::DataSink &sink) {
    const ParsedRequest &p = st.p;
    const TokenText tt = [this, &p](int32_t t) { return tokenText(t, p.tokensAsIds); };
    std::string out;
    if (!st.started) {
      st.started = true;
      if (st.kind == Kind::Chat)
        for (int i = 0; i < st.lr->choices; ++i)
          out += sse(chatRoleChunk(st.id, st.created, limits.modelName, i, p.includeUsage));
    }
    std::deque<LiveRequest::Ev> batch;
    {
      std::unique_lock<std::mutex> lk(st.lr->m);
      if (out.empty())
        st.lr->cv.wait_for(lk, std::chrono::milliseconds(50), [&] { return !st.lr->events.empty(); });
      batch.swap(st.lr->events);
    }
    std::string error;
    for (auto &e : batch) {
      if (e.index < 0 || e.index >= st.lr->choices)
        continue;
      const TokenEvent &ev = e.ev;
      if (ev.finished && ev.finishReason == "error")
        error = ev.error;
      const bool worth = !ev.text.empty() || ev.finished || (p.wantLogprobs && ev.token >= 0);
      if (worth && !(ev.finished && ev.finishReason == "error"))
        out += sse(streamChunk(st.kind, st.id, st.created, limits.modelName, e.index, ev, p.wantLogprobs,
                               p.includeUsage, st.textLen[size_t(e.index)], tt));
      st.textLen[size_t(e.index)] += ev.text.size();
      if (ev.finished) {
        st.usage.completionTokens += ev.completionTokens;
        const size_t k = size_t(e.index / std::max(1, p.sampling.n));
        st.cachedPerPrompt[k] = std::max(st.cachedPerPrompt[k], ev.cachedPromptTokens);
        --st.remaining;
      }
    }
    if (!error.empty())
      out += sse(errorBody(500, "generation failed: " + error, "", "generation_error"));
    const bool last = st.remaining <= 0;
    if (last) {
      if (p.includeUsage) {
        for (int64_t c : st.cachedPerPrompt)
          st.usage.cachedTokens += c;
        out += sse(usageChunk(st.kind, st.id, st.created, limits.modelName, st.usage));
      }
      out += "data: [DONE]\n\n";
    }
    const auto now = Clock::now();
    if (out.empty() && std::chrono::duration<double>(now - st.lastWrite).count() >= opts.keepAliveSeconds)
      out = ": keep-alive\n\n"; // also finds out whether the client is still there
    if (!out.empty()) {
      st.lastWrite = now;
      if (!sink.write(out.data(), out.size())) {
        abortLive(*st.lr);
        return false;
      }
    }
    if (last) {
      st.finishedAll = true;
      sink.done();
      return true;
    }
    if (peerGone(st.sock)) {
      abortLive(*st.lr);
      return false;
    }
    return true;
  }

  void handleModels(httplib::Response &res) {
    const json j = {{"object", "list"},
                    {"data", json::array({{{"id", limits.modelName},
                                           {"object", "model"},
                                           {"created", unixNow()},
                                           {"owned_by", "ingot"},
                                           {"max_model_len", limits.maxModelLen},
                                           {"vocab_size", limits.vocabSize}}})}};
    res.set_content(dumpJson(j), "application/json");
  }

  std::string metricsText() {
    return metrics.render(engine.stats(), inflight.load(), draining.load());
  }

  // ---- lifecycle

  void setup() {
    limits.modelName = opts.modelName;
    limits.maxModelLen = engine.maxModelLen();
    limits.maxPromptTokens = opts.maxPromptTokens > 0 ? std::min(opts.maxPromptTokens, limits.maxModelLen - 1)
                                                      : limits.maxModelLen - 1;
    limits.maxTokens = opts.maxTokens > 0 ? std::min(opts.maxTokens, limits.maxModelLen) : limits.maxModelLen;
    limits.vocabSize = int64_t(engine.tokenizer().vocabSize());
    limits.maxN = opts.maxN;
    limits.maxPrompts = opts.maxPrompts;
    limits.maxLogprobs = opts.maxLogprobs;
    fmt = resolveChatFormat(opts.tokenizerConfigJson, opts.chatTemplate);
    if (!fmt.templateSource.empty()) {
      try {
        chat = std::make_unique<ChatTemplate>(fmt.templateSource, "chat template (" + fmt.templateOrigin + ")");
      } catch (const Error &e) {
        if (!opts.chatTemplate.empty())
          throw; // an explicit override must work
        chatError = e.what();
      }
    }

    const int threads = std::max(4, opts.httpThreads);
    http.new_task_queue = [threads] { return new httplib::ThreadPool(size_t(threads)); };
    http.set_payload_max_length(opts.maxBodyBytes);
    http.set_keep_alive_max_count(1000);
    http.set_read_timeout(10, 0);
    http.set_write_timeout(10, 0);
    http.set_tcp_nodelay(true);
    // httplib's default also sets SO_REUSEPORT, which lets a second server
    // bind the same port and silently take half the connections; keep only
    // SO_REUSEADDR (restart while old connections linger in TIME_WAIT).
    http.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });

    http.set_pre_routing_handler([this](const httplib::Request &req, httplib::Response &res) {
      if (!opts.apiKey.empty() && req.path.rfind("/v1/", 0) == 0) {
        const std::string want = "Bearer " + opts.apiKey;
        if (req.get_header_value("Authorization") != want) {
          sendError(res, 401, "Incorrect or missing API key (send \"Authorization: Bearer KEY\")", "",
                    "invalid_api_key");
          return httplib::Server::HandlerResponse::Handled;
        }
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    http.set_error_handler([](const httplib::Request &req, httplib::Response &res) {
      if (!res.body.empty())
        return;
      if (res.status == 413)
        sendError(res, 413, "the request body is too large", "", "request_too_large");
      else if (res.status == 404)
        sendError(res, 404, "no route for " + req.method + " " + req.path, "", "not_found");
      else if (res.status == 405)
        sendError(res, 405, "method not allowed", "", "method_not_allowed");
      else
        sendError(res, res.status, "bad request", "", "bad_request");
    });
    http.set_exception_handler([](const httplib::Request &, httplib::Response &res, std::exception_ptr ep) {
      std::string msg = "internal error";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception &e) {
        msg = std::string("internal error: ") + e.what();
      } catch (...) {
      }
      sendError(res, 500, msg, "", "internal_error");
    });
    http.set_logger([this](const httplib::Request &, const httplib::Response &res) { metrics.httpStatus(res.status); });

    http.Get("/health", [this](const httplib::Request &, httplib::Response &res) {
      if (draining) {
        res.status = 503;
        res.set_content("{\"status\":\"draining\"}", "application/json");
      } else {
        res.set_content("{\"status\":\"ok\"}", "application/json");
      }
    });
    http.Get("/v1/models", [this](const httplib::Request &, httplib::Response &res) { handleModels(res); });
    http.Get("/metrics", [this](const httplib::Request &, httplib::Response &res) {
      res.set_content(metricsText(), "text/plain; version=0.0.4; charset=utf-8");
    });
    http.Post("/v1/completions", [this](const httplib::Request &req, httplib::Response &res) {
      handleGenerate(Kind::Completion, req, res);
    });
    http.Post("/v1/chat/completions", [this](const httplib::Request &req, httplib::Response &res) {
      handleGenerate(Kind::Chat, req, res);
    });
  }

  void start() {
    setup();
    if (opts.port == 0) {
      boundPort = http.bind_to_any_port(opts.host);
      INGOT_CHECK(boundPort > 0, "cannot bind " + opts.host + " (any port)");
    } else {
      INGOT_CHECK(http.bind_to_port(opts.host, opts.port),
                  "cannot bind " + opts.host + ":" + std::to_string(opts.port) + " (in use, or a bad address)");
      boundPort = opts.port;
    }
    if (http.listenSocket() >= 0)
      ::listen(http.listenSocket(), SOMAXCONN);
    started = true;
    engineThread = std::thread([this] {
      std::string why = "the engine stopped";
      try {
        engine.run();
      } catch (const std::exception &e) {
        why = std::string("the engine stopped: ") + e.what();
        std::fprintf(stderr, "ingot serve: %s\n", why.c_str());
      }
      engineStopped = true;
      finishOrphans(why);
      cv.notify_all();
    });
    httpThread = std::thread([this] { http.listen_after_bind(); });
  }

  void drain() {
    std::lock_guard<std::mutex> lk(m);
    if (draining || !started)
      return;
    draining = true;
    drainThread = std::thread([this] { drainRun(); });
  }

  void drainRun() {
    engine.stop(true); // finishes queued and running requests, then run() returns
    const auto t0 = Clock::now();
    std::unique_lock<std::mutex> lk(m);
    while (inflight.load() > 0) {
      cv.wait_for(lk, std::chrono::milliseconds(100));
      if (opts.drainTimeoutSeconds > 0 &&
          std::chrono::duration<double>(Clock::now() - t0).count() > opts.drainTimeoutSeconds) {
        lk.unlock();
        abortAll();
        lk.lock();
      }
    }
    lk.unlock();
    if (engineThread.joinable())
      engineThread.join();
    http.stop();
    shutdownConnections(boundPort);
    if (httpThread.joinable())
      httpThread.join();
    lk.lock();
    done = true;
    cv.notify_all();
  }

  // After Engine::run() has returned no event will come: give every choice
  // still waiting a final "error" event so no handler waits forever (after a
  // normal drain there are none).
  void finishOrphans(const std::string &why) {
    std::vector<std::shared_ptr<LiveRequest>> all;
    {
      std::lock_guard<std::mutex> lk(m);
      for (auto &kv : live)
        if (auto sp = kv.second.lock())
          all.push_back(sp);
    }
    for (auto &lr : all) {
      {
        std::lock_guard<std::mutex> lk(lr->m);
        for (size_t i = 0; i < lr->choiceDone.size(); ++i) {
          if (lr->choiceDone[i])
            continue;
          lr->choiceDone[i] = true;
          --lr->unfinished;
          TokenEvent ev;
          ev.finished = true;
          ev.finishReason = "error";
          ev.error = why;
          lr->events.push_back({int(i), ev});
        }
      }
      lr->cv.notify_all();
    }
  }

  void abortAll() {
    std::vector<std::shared_ptr<LiveRequest>> all;
    {
      std::lock_guard<std::mutex> lk(m);
      for (auto &kv : live)
        if (auto sp = kv.second.lock())
          all.push_back(sp);
    }
    for (auto &lr : all)
      abortLive(*lr);
  }

  void wait() {
    std::unique_lock<std::mutex> lk(m);
    cv.wait(lk, [this] { return done; });
    lk.unlock();
    if (drainThread.joinable())
      drainThread.join();
  }
};

Server::Server(Engine &engine, ServerOptions opts) : impl_(std::make_unique<Impl>(engine, std::move(opts))) {}

Server::~Server() {
  if (impl_->started) {
    impl_->drain();
    impl_->wait();
  }
}

void Server::start() { impl_->start(); }
int Server::port() const { return impl_->boundPort; }
void Server::drain() { impl_->drain(); }
void Server::abortAll() { impl_->abortAll(); }
void Server::wait() { impl_->wait(); }
std::string Server::metricsText() const { return impl_->metricsText(); }

} // namespace ingot
