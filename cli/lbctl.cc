// lbctl — the operator's shell for lbd, over the admin socket (lbd/admin.cc has the protocol).
//
//   lbctl                      interactive shell: history, tab completion of commands and of
//                              live backend/server names, `?` for help on the current word
//   lbctl show servers [B]     one command, printed as an aligned table
//   lbctl --json show info     the daemon's JSON answer, for scripts
//   lbctl -s PATH ...          another socket (default /run/fulcrum/admin.sock)
//
// Exit codes: 0 success, 1 the daemon answered with an error, 2 usage, 3 cannot reach lbd.
#include <histedit.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/version.h"

namespace {

using nlohmann::json;

constexpr const char* kDefaultSocket = "/run/fulcrum/admin.sock";

// One connection to the daemon; a request is a line out and a line back.
class Client {
 public:
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }

  // Connects, or returns a message an operator can act on.
  std::optional<std::string> connect(const std::string& path) {
    path_ = path;
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return "socket path too long: " + path;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return std::nullopt;
    const int e = errno;
    ::close(fd_);
    fd_ = -1;
    if (e == ENOENT || e == ECONNREFUSED) {
      return "lbd is not running (nothing listens on " + path +
             "); start it, or give the socket with -s PATH";
    }
    if (e == EACCES || e == EPERM) {
      return "permission denied on " + path +
             ": run lbctl as root or as a member of the socket's group";
    }
    return "cannot connect to " + path + ": " + std::strerror(e);
  }

  // Sends `cmd`; the parsed answer, or nullopt (with `error`) when the daemon went away.
  std::optional<json> call(const std::string& cmd, std::string& error) {
    const std::string line = json{{"v", 1}, {"cmd", cmd}}.dump() + "\n";
    for (std::size_t off = 0; off < line.size();) {
      const ssize_t n = ::send(fd_, line.data() + off, line.size() - off, MSG_NOSIGNAL);
      if (n <= 0) {
        error = "lbd closed the connection (it may have stopped)";
        return std::nullopt;
      }
      off += static_cast<std::size_t>(n);
    }
    std::string in;
    for (;;) {
      const std::size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        in = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        break;
      }
      char chunk[65536];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) {
        error = "lbd closed the connection (it may have stopped)";
        return std::nullopt;
      }
      buf_.append(chunk, static_cast<std::size_t>(n));
    }
    json j = json::parse(in, nullptr, false);
    if (j.is_discarded()) {
      error = "lbd sent something that is not JSON";
      return std::nullopt;
    }
    return j;
  }

 private:
  int fd_ = -1;
  std::string path_;
  std::string buf_;
};

struct Style {
  bool colour = false;
  std::string bold(const std::string& s) const { return colour ? "\033[1m" + s + "\033[0m" : s; }
  std::string red(const std::string& s) const { return colour ? "\033[31m" + s + "\033[0m" : s; }
  std::string green(const std::string& s) const { return colour ? "\033[32m" + s + "\033[0m" : s; }
  std::string yellow(const std::string& s) const { return colour ? "\033[33m" + s + "\033[0m" : s; }
};

std::string text_of(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  if (v.is_number_float()) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3f", v.get<double>());
    return b;
  }
  return v.dump();
}

// Prints rows under headers with every column as wide as its widest cell; `paint` colours a
// cell after the widths are known (escape codes take no room on screen).
void table(const std::vector<std::string>& headers,
           const std::vector<std::vector<std::string>>& rows, const Style& st,
           const std::function<std::string(std::size_t, const std::string&)>& paint = nullptr) {
  std::vector<std::size_t> width(headers.size());
  for (std::size_t c = 0; c < headers.size(); ++c) width[c] = headers[c].size();
  for (const auto& r : rows) {
    for (std::size_t c = 0; c < r.size() && c < width.size(); ++c) {
      width[c] = std::max(width[c], r[c].size());
    }
  }
  auto line = [&](const std::vector<std::string>& cells, bool head) {
    std::string out;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      std::string cell = cells[c];
      const std::size_t pad = width[c] - cell.size();
      if (head) {
        cell = st.bold(cell);
      } else if (paint) {
        cell = paint(c, cell);
      }
      out += cell;
      if (c + 1 < cells.size()) out += std::string(pad + 2, ' ');
    }
    std::puts(out.c_str());
  };
  line(headers, true);
  for (const auto& r : rows) line(r, false);
}

std::string server_state(const json& s) {
  if (s.value("admin", "") != "enabled") return s.value("admin", "?");
  if (s.contains("health") && s["health"].value("ejected", false)) return "ejected";
  return s.value("up", false) ? "up" : "down";
}

// Shows a command's answer for people: tables for lists, key/value for objects.
void print(const std::string& cmd, const json& data, const Style& st) {
  auto paint_state = [&](std::size_t col, std::size_t state_col) {
    return [&st, col, state_col](std::size_t c, const std::string& v) {
      if (c != state_col) return v;
      if (v == "up") return st.green(v);
      if (v == "down" || v == "ejected" || v == "disabled") return st.red(v);
      if (v == "drain") return st.yellow(v);
      return v;
    };
  };
  if (cmd.rfind("show servers", 0) == 0 || cmd == "show health" || cmd.rfind("enable ", 0) == 0 ||
      cmd.rfind("disable ", 0) == 0 || cmd.rfind("drain ", 0) == 0 ||
      cmd.rfind("set weight", 0) == 0) {
    const json list = data.is_array() ? data : json::array({data});
    std::vector<std::vector<std::string>> rows;
    for (const auto& s : list) {
      const json h = s.value("health", json::object());
      rows.push_back({s.value("backend", ""), s.value("name", ""), s.value("address", ""),
                      server_state(s), text_of(s.value("weight", json(0))),
                      text_of(s.value("active", json(0))),
                      s.value("max_connections", 0) == 0 ? "-" : text_of(s["max_connections"]),
                      h.value("checked", false) ? h.value("last_result", "") : "-"});
    }
    table({"BACKEND", "SERVER", "ADDRESS", "STATE", "WEIGHT", "ACTIVE", "MAXCONN", "LAST CHECK"},
          rows, st, paint_state(0, 3));
    return;
  }
  if (cmd == "show backends") {
    std::vector<std::vector<std::string>> rows;
    for (const auto& b : data) {
      rows.push_back({b.value("name", ""), b.value("balance", ""),
                      text_of(b["usable"]) + "/" + text_of(b["servers"]), text_of(b["active"]),
                      text_of(b["queued"])});
    }
    table({"BACKEND", "BALANCE", "USABLE", "ACTIVE", "QUEUED"}, rows, st);
    return;
  }
  if (cmd == "show listeners") {
    std::vector<std::vector<std::string>> rows;
    for (const auto& l : data) {
      rows.push_back({l.value("name", ""), l.value("address", ""), l.value("mode", ""),
                      l.value("backend", ""), text_of(l["connections_open"]),
                      text_of(l["connections_total"])});
    }
    table({"LISTENER", "ADDRESS", "MODE", "BACKEND", "OPEN", "TOTAL"}, rows, st);
    return;
  }
  if (cmd == "show errors") {
    std::vector<std::vector<std::string>> rows;
    for (const auto& e : data) {
      rows.push_back({e.value("time", ""), e.value("listener", ""), e.value("client", ""),
                      text_of(e["status"]), e.value("reason", "")});
    }
    table({"TIME", "LISTENER", "CLIENT", "STATUS", "REASON"}, rows, st);
    return;
  }
  if (cmd == "show config") {
    std::fputs(data.value("yaml", "").c_str(), stdout);
    return;
  }
  if (cmd == "help") {
    std::vector<std::vector<std::string>> rows;
    for (const auto& c : data) {
      rows.push_back(
          {c.value("command", "") + (c.value("args", "").empty() ? "" : " " + c.value("args", "")),
           c.value("help", "")});
    }
    table({"COMMAND", "DOES"}, rows, st);
    return;
  }
  if (cmd == "show stats") {
    std::vector<std::vector<std::string>> rows;
    for (const auto& [name, samples] : data.items()) {
      for (const auto& s : samples) {
        std::string labels;
        for (const auto& [k, v] : s["labels"].items()) {
          labels += (labels.empty() ? "" : ",") + k + "=" + v.get<std::string>();
        }
        rows.push_back({name, labels, text_of(s["value"])});
      }
    }
    table({"METRIC", "LABELS", "VALUE"}, rows, st);
    return;
  }
  if (data.is_object()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& [k, v] : data.items()) rows.push_back({k, text_of(v)});
    for (const auto& r : rows) std::printf("%-16s %s\n", (r[0] + ":").c_str(), r[1].c_str());
    return;
  }
  std::puts(data.dump(2).c_str());
}

// Runs one command; prints the answer. Returns the exit code.
int run_one(Client& client, const std::string& cmd, bool as_json, const Style& st) {
  std::string error;
  auto r = client.call(cmd, error);
  if (!r) {
    std::fprintf(stderr, "lbctl: %s\n", error.c_str());
    return 3;
  }
  if (as_json) {
    std::puts(r->dump().c_str());
    return r->value("ok", false) ? 0 : 1;
  }
  if (!r->value("ok", false)) {
    std::fprintf(stderr, "%s\n", st.red("error: " + r->value("error", std::string("?"))).c_str());
    if (r->contains("errors")) {
      for (const auto& e : (*r)["errors"]) std::fprintf(stderr, "  %s\n", text_of(e).c_str());
    }
    return 1;
  }
  print(cmd, (*r)["data"], st);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// The interactive shell.

struct Shell {
  Client* client = nullptr;
  Style st;
  std::string prompt;
  std::vector<json> commands;                  // from `help`
  std::vector<std::string> servers, backends;  // refreshed on completion

  void refresh_names() {
    std::string error;
    servers.clear();
    backends.clear();
    if (auto r = client->call("show servers", error); r && r->value("ok", false)) {
      for (const auto& s : (*r)["data"]) {
        const std::string b = s.value("backend", "");
        servers.push_back(b + "/" + s.value("name", ""));
        if (std::find(backends.begin(), backends.end(), b) == backends.end()) backends.push_back(b);
      }
    }
  }

  void refresh_prompt() {
    std::string error;
    char host[256] = "lbd";
    ::gethostname(host, sizeof host - 1);
    std::string state = "?";
    if (auto r = client->call("show backends", error); r && r->value("ok", false)) {
      int usable = 0, total = 0;
      for (const auto& b : (*r)["data"]) {
        usable += b.value("usable", 0);
        total += b.value("servers", 0);
      }
      state = std::to_string(usable) + "/" + std::to_string(total) + " usable";
    }
    prompt = std::string(host) + " [" + state + "]> ";
  }

  // Candidates for the word under the cursor, given the words before it.
  std::vector<std::string> candidates(const std::vector<std::string>& before,
                                      const std::string& word) {
    std::vector<std::string> out;
    std::string typed;
    for (const auto& w : before) typed += (typed.empty() ? "" : " ") + w;
    for (const auto& c : commands) {
      const std::string words = c.value("command", "");
      const std::string args = c.value("args", "");
      // Still inside the command's own words?
      std::vector<std::string> cw;
      for (std::size_t i = 0, j; i < words.size(); i = j + 1) {
        j = words.find(' ', i);
        if (j == std::string::npos) j = words.size();
        cw.push_back(words.substr(i, j - i));
      }
      bool prefix = before.size() <= cw.size();
      for (std::size_t i = 0; prefix && i < before.size(); ++i) prefix = before[i] == cw[i];
      if (prefix && before.size() < cw.size()) {
        const std::string& next = cw[before.size()];
        if (next.rfind(word, 0) == 0 && std::find(out.begin(), out.end(), next) == out.end()) {
          out.push_back(next);
        }
        continue;
      }
      // In its arguments: live names.
      if (prefix && before.size() == cw.size()) {
        if (servers.empty()) refresh_names();
        const auto& names = args.rfind("BACKEND/SERVER", 0) == 0 ? servers
                            : args.rfind("[BACKEND]", 0) == 0    ? backends
                                                                 : std::vector<std::string>{};
        for (const auto& n : names) {
          if (n.rfind(word, 0) == 0) out.push_back(n);
        }
      }
    }
    return out;
  }
};

Shell* g_shell = nullptr;

std::vector<std::string> words_of(const std::string& s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// Splits the line up to the cursor into finished words and the word being typed.
void split_at_cursor(EditLine* el, std::vector<std::string>& before, std::string& word) {
  const LineInfo* li = el_line(el);
  const std::string upto(li->buffer, static_cast<std::size_t>(li->cursor - li->buffer));
  const bool fresh = upto.empty() || upto.back() == ' ';
  before = words_of(upto);
  word.clear();
  if (!fresh && !before.empty()) {
    word = before.back();
    before.pop_back();
  }
}

unsigned char complete(EditLine* el, int) {
  std::vector<std::string> before;
  std::string word;
  split_at_cursor(el, before, word);
  g_shell->servers.clear();  // live names: fetch again on each completion
  const auto c = g_shell->candidates(before, word);
  if (c.empty()) return CC_REFRESH_BEEP;
  if (c.size() == 1) {
    el_insertstr(el, (c[0].substr(word.size()) + " ").c_str());
    return CC_REDISPLAY;
  }
  // Several: extend to their common prefix, and list them.
  std::string common = c[0];
  for (const auto& s : c) {
    std::size_t k = 0;
    while (k < common.size() && k < s.size() && common[k] == s[k]) ++k;
    common.resize(k);
  }
  if (common.size() > word.size()) {
    el_insertstr(el, common.substr(word.size()).c_str());
    return CC_REDISPLAY;
  }
  std::string list = "\n";
  for (const auto& s : c) list += s + "  ";
  std::puts(list.c_str());
  return CC_REDISPLAY;
}

unsigned char help_key(EditLine* el, int) {
  std::vector<std::string> before;
  std::string word;
  split_at_cursor(el, before, word);
  std::printf("\n");
  std::string typed;
  for (const auto& w : before) typed += (typed.empty() ? "" : " ") + w;
  if (!word.empty()) typed += (typed.empty() ? "" : " ") + word;
  for (const auto& c : g_shell->commands) {
    const std::string full = c.value("command", "");
    if (full.rfind(typed, 0) == 0 || typed.rfind(full, 0) == 0) {
      std::printf("  %-36s %s\n",
                  (full + (c.value("args", "").empty() ? "" : " " + c.value("args", ""))).c_str(),
                  c.value("help", "").c_str());
    }
  }
  return CC_REDISPLAY;
}

const char* prompt_fn(EditLine*) { return g_shell->prompt.c_str(); }

int interactive(Client& client, const Style& st) {
  Shell shell;
  shell.client = &client;
  shell.st = st;
  g_shell = &shell;
  std::string error;
  auto help = client.call("help", error);
  if (!help) {
    std::fprintf(stderr, "lbctl: %s\n", error.c_str());
    return 3;
  }
  for (const auto& c : (*help)["data"]) shell.commands.push_back(c);
  shell.commands.push_back({{"command", "quit"}, {"args", ""}, {"help", "leave the shell"}});
  shell.refresh_prompt();

  std::string history_file;
  if (const char* home = std::getenv("HOME")) history_file = std::string(home) + "/.lbctl_history";
  HistEvent ev;
  History* hist = history_init();
  history(hist, &ev, H_SETSIZE, 1000);
  history(hist, &ev, H_SETUNIQUE, 1);
  if (!history_file.empty()) history(hist, &ev, H_LOAD, history_file.c_str());

  EditLine* el = el_init("lbctl", stdin, stdout, stderr);
  el_set(el, EL_PROMPT, prompt_fn);
  el_set(el, EL_EDITOR, "emacs");
  el_set(el, EL_HIST, history, hist);
  el_set(el, EL_ADDFN, "lbctl-complete", "complete a command or a server name", complete);
  el_set(el, EL_ADDFN, "lbctl-help", "help on the current command", help_key);
  el_set(el, EL_BIND, "^I", "lbctl-complete", nullptr);
  el_set(el, EL_BIND, "?", "lbctl-help", nullptr);
  el_set(el, EL_SIGNAL, 1);

  int last = 0;
  for (;;) {
    int count = 0;
    const char* line = el_gets(el, &count);
    if (line == nullptr || count <= 0) {
      std::puts("");
      break;
    }
    std::string cmd(line);
    while (!cmd.empty() && (cmd.back() == '\n' || cmd.back() == ' ')) cmd.pop_back();
    std::size_t start = cmd.find_first_not_of(' ');
    if (start == std::string::npos) continue;
    cmd = cmd.substr(start);
    history(hist, &ev, H_ENTER, cmd.c_str());
    if (cmd == "quit" || cmd == "exit") break;
    last = run_one(client, cmd, false, st);
    if (last == 3) break;  // the daemon went away
    shell.refresh_prompt();
  }
  if (!history_file.empty()) history(hist, &ev, H_SAVE, history_file.c_str());
  el_end(el);
  history_end(hist);
  return last == 3 ? 3 : 0;
}

void usage(FILE* f) {
  std::fprintf(f,
               "usage: lbctl [-s SOCKET] [--json] [COMMAND...]\n"
               "Drives a running lbd through its admin socket (default %s).\n"
               "Without a command, opens an interactive shell (tab completes, ? helps).\n"
               "Commands: lbctl help\n",
               kDefaultSocket);
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket_path = kDefaultSocket;
  if (const char* env = std::getenv("LBCTL_SOCKET")) socket_path = env;
  bool as_json = false;
  std::vector<std::string> words;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (words.empty() && (a == "-s" || a == "--socket")) {
      if (i + 1 >= argc) {
        usage(stderr);
        return 2;
      }
      socket_path = argv[++i];
    } else if (words.empty() && a == "--json") {
      as_json = true;
    } else if (words.empty() && (a == "-h" || a == "--help")) {
      usage(stdout);
      return 0;
    } else if (words.empty() && a == "--version") {
      std::printf("lbctl %s\n", fulcrum::kVersion);
      return 0;
    } else {
      words.push_back(a);
    }
  }
  Style st;
  st.colour = ::isatty(STDOUT_FILENO) && std::getenv("NO_COLOR") == nullptr;
  Client client;
  if (auto why = client.connect(socket_path)) {
    std::fprintf(stderr, "lbctl: %s\n", why->c_str());
    return 3;
  }
  if (words.empty()) {
    if (!::isatty(STDIN_FILENO)) {
      // Commands on stdin, one per line: for scripts that pipe several.
      int rc = 0;
      char* line = nullptr;
      std::size_t cap = 0;
      while (getline(&line, &cap, stdin) > 0) {
        std::string cmd(line);
        while (!cmd.empty() && (cmd.back() == '\n' || cmd.back() == '\r')) cmd.pop_back();
        if (cmd.empty()) continue;
        rc = std::max(rc, run_one(client, cmd, as_json, st));
      }
      std::free(line);
      return rc;
    }
    return interactive(client, st);
  }
  std::string cmd;
  for (const auto& w : words) cmd += (cmd.empty() ? "" : " ") + w;
  return run_one(client, cmd, as_json, st);
}
