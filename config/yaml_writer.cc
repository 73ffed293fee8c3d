// to_yaml(): the config as a user would write it. Every key is written, defaults included, so
// the output doubles as a full reference of what lbd is running with.
#include <sstream>

#include "config/loader.h"
#include "config/text.h"

namespace fulcrum::config {

std::string to_yaml(const Config& c) {
  std::ostringstream out;
  auto duration = [](Duration d) { return format_duration(d); };
  auto address = [](const Address& a) { return yaml_scalar(format_address(a)); };

  out << "workers: " << (c.workers == 0 ? std::string("auto") : std::to_string(c.workers)) << "\n"
      << "shutdown_timeout: " << duration(c.shutdown_timeout) << "\n"
      << "log_level: " << to_string(c.log_level) << "\n";

  out << "listeners:" << (c.listeners.empty() ? " []" : "") << "\n";
  for (const ListenerConfig& l : c.listeners) {
    out << "  - name: " << yaml_scalar(l.name) << "\n"
        << "    address: " << address(l.address) << "\n"
        << "    mode: " << to_string(l.mode) << "\n"
        << "    backend: " << yaml_scalar(l.backend) << "\n"
        << "    header_timeout: " << duration(l.header_timeout) << "\n"
        << "    idle_timeout: " << duration(l.idle_timeout) << "\n"
        << "    max_header_size: " << format_size(l.max_header_size) << "\n"
        << "    max_body: " << format_size(l.max_body) << "\n";
  }

  out << "backends:" << (c.backends.empty() ? " []" : "") << "\n";
  for (const BackendConfig& b : c.backends) {
    out << "  - name: " << yaml_scalar(b.name) << "\n"
        << "    balance: " << to_string(b.balance) << "\n"
        << "    connect_timeout: " << duration(b.connect_timeout) << "\n"
        << "    response_timeout: " << duration(b.response_timeout) << "\n"
        << "    idle_timeout: " << duration(b.idle_timeout) << "\n"
        << "    max_idle: " << b.max_idle << "\n"
        << "    servers:" << (b.servers.empty() ? " []" : "") << "\n";
    for (const ServerConfig& s : b.servers) {
      out << "      - name: " << yaml_scalar(s.name) << "\n"
          << "        address: " << address(s.address) << "\n"
          << "        kind: " << to_string(s.kind) << "\n"
          << "        weight: " << s.weight << "\n";
    }
  }
  return out.str();
}

}  // namespace fulcrum::config
