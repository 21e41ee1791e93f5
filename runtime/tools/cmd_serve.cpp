// `ingot serve PLAN`: the OpenAI-compatible HTTP server (server.h) over one
// Engine; and `ingot chat-template PLAN`: renders messages with the model's
// chat template exactly as the server would (for checking a template).
//
// Signals: SIGTERM and SIGINT go through a self-pipe to a watcher thread; the
// first starts the drain (new requests get 503, in-flight ones finish) after
// which the process exits 0; a second aborts what is still running so the
// drain ends at once.
#include "commands.h"

#include "ingot/runtime/chat_template.h"
#include "ingot/runtime/engine.h"
#include "ingot/runtime/error.h"
#include "ingot/runtime/plan.h"
#include "ingot/runtime/server.h"
#include "ingot/runtime/tokenizer.h"
#include "ingot/schema/plan_file_generated.h"
#include "ingot/schema/plan_generated.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <vector>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace {

using json = nlohmann::ordered_json;

} // namespace

int64_t parseByteSize(const std::string &s) {
  size_t i = 0;
  while (i < s.size() && (std::isdigit(uint8_t(s[i])) || s[i] == '.'))
    ++i;
  INGOT_CHECK(i > 0, "bad size \"" + s + "\" (e.g. 512MiB, 8GiB)");
  const double v = std::stod(s.substr(0, i));
  std::string unit = s.substr(i);
  double mul = 1;
  if (unit == "" || unit == "B")
    mul = 1;
  else if (unit == "KiB" || unit == "K")
    mul = 1024.0;
  else if (unit == "MiB" || unit == "M")
    mul = 1024.0 * 1024;
  else if (unit == "GiB" || unit == "G")
    mul = 1024.0 * 1024 * 1024;
  else if (unit == "KB")
    mul = 1e3;
  else if (unit == "MB")
    mul = 1e6;
  else if (unit == "GB")
    mul = 1e9;
  else
    throw ingot::Error("bad size unit \"" + unit + "\" in \"" + s + "\" (B, KiB, MiB, GiB, KB, MB, GB)");
  return int64_t(v * mul);
}

namespace {

int gSignalPipe[2] = {-1, -1};

void onShutdownSignal(int sig) {
  const char c = char(sig);
  const int saved = errno;
  ssize_t ignored = write(gSignalPipe[1], &c, 1);
  (void)ignored;
  errno = saved;
}

std::string tokenizerConfig(const ingot::PlanFile &pf) {
  const ingot::plan::Tokenizer *t = pf.program().tokenizer();
  return t && t->tokenizer_config_json() ? t->tokenizer_config_json()->str() : std::string();
}

std::string planStem(const std::string &path) {
  std::string base = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
  const size_t dot = base.rfind(".plan");
  if (dot != std::string::npos && dot + 5 == base.size())
    base.resize(dot);
  return base.empty() ? "ingot" : base;
}

struct ServeArgs {
  ServeArgs() { eo.maxQueued = 128; } // with 64 running, fits the 256 HTTP threads
  std::string plan, weightsDir, kvCacheSize, chatTemplate, modelName;
  int threads = 0;
  bool noVerifyWeights = false;
  DeviceArgs device;
  ingot::EngineOptions eo;
  ingot::ServerOptions so;
  bool noPrefixCaching = false;
};

// OpenMP workers that spin between parallel regions (libgomp's default)
// take whole cores from the HTTP handler threads and from clients on the
// same machine; under load on a small machine that turned 50 ms requests
// into seconds. libgomp reads OMP_WAIT_POLICY only at start-up, so unless
// the user chose a policy, `serve` runs itself again with "passive".
void preferPassiveOpenMP() {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("INGOT_SERVE_REEXEC"))
    return;
  std::ifstream f("/proc/self/cmdline", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  for (size_t start = 0; start < all.size();) {
    const size_t end = all.find('\0', start);
    args.push_back(all.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos)
      break;
    start = end + 1;
  }
  if (args.empty())
    return;
  std::vector<char *> argv;
  for (auto &s : args)
    argv.push_back(s.data());
  argv.push_back(nullptr);
  setenv("OMP_WAIT_POLICY", "passive", 1);
  setenv("INGOT_SERVE_REEXEC", "1", 1);
  std::fflush(nullptr);
  execv("/proc/self/exe", argv.data());
  // Could not re-execute: carry on with the default policy.
}

int runServe(ServeArgs &a) {
  preferPassiveOpenMP();
  ingot::PlanLoadOptions lo;
  lo.verifyWeights = !a.noVerifyWeights;
  auto pf = ingot::PlanFile::open(a.plan, lo);
  INGOT_CHECK(ingot::cpuRunsTarget(pf->target()),
              "plan " + a.plan + " targets \"" + pf->target() +
                  "\"; this ingot runs plans for cpu and CUDA (sm_*) targets");
  requireDecoderPlan(*pf, "serve");
  a.eo.executor.weightsDir = a.weightsDir;
  a.eo.executor.numThreads = a.threads;
  applyDeviceOptions(a.device, a.eo.executor);
  if (!a.kvCacheSize.empty())
    a.eo.executor.kvCacheBytes = parseByteSize(a.kvCacheSize);
  a.eo.enablePrefixCaching = !a.noPrefixCaching;
  a.so.tokenizerConfigJson = tokenizerConfig(*pf);
  a.so.chatTemplate = a.chatTemplate;
  a.so.modelName = a.modelName.empty() ? planStem(a.plan) : a.modelName;

  // SIGTERM/SIGINT: a handler that only writes to a pipe (async-signal-safe;
  // library threads such as OpenBLAS's exist before main, so blocking the
  // signals in our threads alone would not keep them away from the others);
  // a watcher thread reads the pipe and drives the shutdown.
  INGOT_CHECK(pipe(gSignalPipe) == 0, "cannot create the signal pipe");
  struct sigaction sa {};
  sa.sa_handler = onShutdownSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  // Every in-flight request (running or queued) holds an HTTP thread; with
  // fewer threads, excess requests wait for a thread instead of getting 429.
  const int64_t running = a.eo.maxRunningSeqs > 0 ? a.eo.maxRunningSeqs
                          : pf->program().memory()  ? pf->program().memory()->max_seqs()
                                                    : 0;
  if (running + a.eo.maxQueued > a.so.httpThreads)
    std::fprintf(stderr,
                 "ingot serve: warning: --http-threads %d < running (%lld) + --max-queued (%lld): requests "
                 "beyond the threads wait for one instead of getting 429\n",
                 a.so.httpThreads, (long long)running, (long long)a.eo.maxQueued);

  auto engine = ingot::Engine::create(*pf, a.eo);
  auto server = std::make_unique<ingot::Server>(*engine, a.so);
  server->start();
  const ingot::EngineStats st = engine->stats();
  std::fprintf(stderr,
               "ingot serve: listening on http://%s:%d (model \"%s\", max model length %lld, %lld KV blocks)\n",
               a.so.host.c_str(), server->port(), a.so.modelName.c_str(), (long long)engine->maxModelLen(),
               (long long)st.kvBlocksTotal);
  std::fflush(stderr);

  ingot::Server *srv = server.get();
  std::thread signals([srv] {
    int count = 0;
    while (true) {
      char sig = 0;
      const ssize_t n = read(gSignalPipe[0], &sig, 1);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      if (++count == 1) {
        std::fprintf(stderr, "ingot serve: %s: draining (finishing in-flight requests; again to abort them)\n",
                     sig == SIGTERM ? "SIGTERM" : "SIGINT");
        srv->drain();
      } else {
        std::fprintf(stderr, "ingot serve: aborting in-flight requests\n");
        srv->abortAll();
      }
    }
  });
  signals.detach(); // it sleeps in read() until the process exits
  server->wait();
  std::fprintf(stderr, "ingot serve: stopped\n");
  server.reset();
  engine.reset();
  return 0;
}

struct ChatArgs {
  std::string plan, messages = "-", chatTemplate;
  bool noGenerationPrompt = false, ids = false, noVerifyWeights = false;
};

int runChatTemplate(const ChatArgs &a) {
  ingot::PlanLoadOptions lo;
  lo.verifyWeights = !a.noVerifyWeights;
  auto pf = ingot::PlanFile::open(a.plan, lo);
  const ingot::ChatFormat fmt = ingot::resolveChatFormat(tokenizerConfig(*pf), a.chatTemplate);
  INGOT_CHECK(!fmt.templateSource.empty(), "plan " + a.plan + " has no chat template; pass --chat-template");
  std::string text;
  if (a.messages == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(a.messages, std::ios::binary);
    INGOT_CHECK(in.good(), "cannot read " + a.messages);
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  json in = json::parse(text, nullptr, false);
  INGOT_CHECK(!in.is_discarded(), "--messages: not valid JSON");
  // Either a list of messages or a full context object.
  json ctx = in.is_array() ? json{{"messages", in}} : in;
  INGOT_CHECK(ctx.is_object() && ctx.contains("messages"), "--messages: need a list of messages or an object with \"messages\"");
  if (!ctx.contains("add_generation_prompt"))
    ctx["add_generation_prompt"] = !a.noGenerationPrompt;
  for (const char *k : {"tools", "documents"})
    if (!ctx.contains(k))
      ctx[k] = nullptr;
  for (const auto &kv : {std::make_pair("bos_token", fmt.bosToken), std::make_pair("eos_token", fmt.eosToken),
                         std::make_pair("unk_token", fmt.unkToken), std::make_pair("pad_token", fmt.padToken)})
    if (!ctx.contains(kv.first))
      ctx[kv.first] = kv.second;
  ingot::ChatTemplate tpl(fmt.templateSource, "chat template (" + fmt.templateOrigin + ")");
  const std::string rendered = tpl.render(ctx);
  if (a.ids) {
    const ingot::plan::Tokenizer *t = pf->program().tokenizer();
    INGOT_CHECK(t && t->tokenizer_json(), "plan " + a.plan + " has no tokenizer");
    auto tok = ingot::Tokenizer::fromJson(t->tokenizer_json()->str());
    std::cout << json(tok->encode(rendered, false)).dump() << std::endl;
  } else {
    std::cout << rendered;
    std::cout.flush();
  }
  return 0;
}

} // namespace

std::vector<SubcommandHook> registerServeCommands(CLI::App &app) {
  static ServeArgs storage; // lives for the process (CLI11 binds to it)
  ServeArgs *sa = &storage;
  CLI::App *serve = app.add_subcommand("serve", "Serve the plan over an OpenAI-compatible HTTP API");
  serve->add_option("plan", sa->plan, "Plan file produced by ingotc")->required();
  serve->add_flag("--no-verify-weights", sa->noVerifyWeights, "Skip the checksum of the embedded weights section");
  serve->add_option("--weights", sa->weightsDir, "Checkpoint directory for weights-external plans");
  serve->add_option("--threads", sa->threads, "Worker threads (0: all cores)")->check(CLI::NonNegativeNumber);
  addDeviceOptions(serve, sa->device);
  serve->add_option("--host", sa->so.host, "Address to bind (default: loopback only)")->capture_default_str();
  serve->add_option("--port", sa->so.port, "Port (0: any free port, printed on stderr)")
      ->capture_default_str()->check(CLI::Range(0, 65535));
  serve->add_option("--api-key", sa->so.apiKey, "Require \"Authorization: Bearer KEY\" on /v1/*");
  serve->add_option("--served-model-name", sa->modelName, "Model name clients use (default: the plan's file name)");
  serve->add_option("--chat-template", sa->chatTemplate,
                    "chatml | llama3 | llama2 | mistral | zephyr | plain | FILE (Jinja, or a tokenizer_config.json)");
  serve->add_option("--kv-cache-size", sa->kvCacheSize, "KV-cache memory, e.g. 512MiB, 4GiB (default: the executor's)");
  serve->add_option("--max-model-len", sa->eo.maxModelLen, "Prompt + generated tokens at most (0: the plan's)")
      ->check(CLI::NonNegativeNumber);
  serve->add_option("--max-batched-tokens", sa->eo.maxBatchedTokens, "Tokens per engine step (0: the plan's max)")
      ->check(CLI::NonNegativeNumber);
  serve->add_option("--max-running", sa->eo.maxRunningSeqs, "Sequences per engine step (0: the plan's max)")
      ->check(CLI::NonNegativeNumber);
  serve->add_option("--max-queued", sa->eo.maxQueued, "Requests waiting at most; more get 429")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  serve->add_flag("--no-prefix-caching", sa->noPrefixCaching, "Do not reuse KV blocks of common prompt prefixes");
  serve->add_flag("--priority", sa->eo.usePriority, "Schedule by the requests' `priority` (default: first come)");
  serve->add_option("--max-body-bytes", sa->so.maxBodyBytes, "Largest request body; larger: 413")
      ->capture_default_str()->check(CLI::PositiveNumber);
  serve->add_option("--max-prompt-tokens", sa->so.maxPromptTokens, "Longest prompt accepted (0: max model length - 1)")
      ->check(CLI::NonNegativeNumber);
  serve->add_option("--max-tokens-limit", sa->so.maxTokens, "Largest max_tokens accepted (0: max model length)")
      ->check(CLI::NonNegativeNumber);
  serve->add_option("--max-n", sa->so.maxN, "Largest n (choices per prompt)")->capture_default_str()
      ->check(CLI::PositiveNumber);
  serve->add_option("--http-threads", sa->so.httpThreads, "HTTP handler threads (each in-flight request holds one)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  serve->add_option("--drain-timeout", sa->so.drainTimeoutSeconds,
                    "On SIGTERM, abort what still runs after this many seconds (0: wait)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);

  static ChatArgs chatStorage;
  ChatArgs *ca = &chatStorage;
  CLI::App *ct = app.add_subcommand("chat-template", "Render chat messages with the plan's chat template");
  ct->add_option("plan", ca->plan, "Plan file produced by ingotc")->required();
  ct->add_flag("--no-verify-weights", ca->noVerifyWeights, "Skip the checksum of the embedded weights section");
  ct->add_option("--messages", ca->messages,
                 "JSON file (or - for stdin): a list of messages, or an object with messages and template variables")
      ->capture_default_str();
  ct->add_option("--chat-template", ca->chatTemplate, "Override, as for serve");
  ct->add_flag("--no-generation-prompt", ca->noGenerationPrompt, "add_generation_prompt = false");
  ct->add_flag("--ids", ca->ids, "Print the token ids (as the server would feed them) instead of the text");

  return {{serve, [sa] { return runServe(*sa); }}, {ct, [ca] { return runChatTemplate(*ca); }}};
}
