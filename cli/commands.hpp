#pragma once
// Each command group registers its subcommands on the CLI11 app. A parsed
// command stores what to run in `selected`; main runs it after parsing.

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/common.hpp"
#include "messages/daemon.hpp"

namespace banger::cli {

void add_vm_commands(CLI::App& app, action& selected);
/// vm set / ssh / ports / proxy (registered by add_vm_commands).
void add_vm_network_commands(CLI::App& vm, action& selected);
/// vm restart / kill / prune / logs (registered by add_vm_commands).
void add_vm_lifecycle_commands(CLI::App& vm, action& selected);
/// vm workspace prepare / export (registered by add_vm_commands).
void add_workspace_commands(CLI::App& vm, action& selected);
/// vm session start / list / attach / logs / stop (registered by
/// add_vm_commands).
void add_session_commands(CLI::App& vm, action& selected);
void add_image_commands(CLI::App& app, action& selected);
/// image pull / kernel pull (registered by add_image_commands).
void add_pull_commands(CLI::App& image, CLI::App& kernel, action& selected);
void add_daemon_commands(CLI::App& app, action& selected);
void add_ssh_commands(CLI::App& app, action& selected);
void add_doctor_command(CLI::App& app, action& selected);
void add_system_commands(CLI::App& app, action& selected);
void add_config_command(CLI::App& app, action& selected);

/// The daemon's status if something answers on `socket`; `why` says what
/// went wrong otherwise.
std::optional<daemon_status> query_status(const std::string& socket,
                                          std::string* why = nullptr);

} // namespace banger::cli
