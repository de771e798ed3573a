#pragma once
// A thin wrapper over spdlog: every line starts with the component (actor)
// that wrote it, as Tenzir does, so a daemon log reads like a trace.
//
// Messages often carry what a client or a guest sent (request types, VM
// names, error texts), and a root-written log must not let them forge lines:
// every message is one line, its control characters escaped.

#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "services/terminal_text.hpp"

namespace banger::log {

/// `text` as one log line: control characters, C1 controls and bytes that
/// are not UTF-8 written as visible escapes (services/terminal_text.hpp).
inline std::string escape_control(std::string_view text) {
  return terminal_safe(text);
}

template <class... Ts>
void info(std::string_view who, spdlog::format_string_t<Ts...> fmt,
          Ts&&... xs) {
  spdlog::info("[{}] {}", who,
               escape_control(fmt::format(fmt, std::forward<Ts>(xs)...)));
}

template <class... Ts>
void warn(std::string_view who, spdlog::format_string_t<Ts...> fmt,
          Ts&&... xs) {
  spdlog::warn("[{}] {}", who,
               escape_control(fmt::format(fmt, std::forward<Ts>(xs)...)));
}

template <class... Ts>
void error(std::string_view who, spdlog::format_string_t<Ts...> fmt,
           Ts&&... xs) {
  spdlog::error("[{}] {}", who,
                escape_control(fmt::format(fmt, std::forward<Ts>(xs)...)));
}

} // namespace banger::log
