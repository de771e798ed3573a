#pragma once
// Each command group registers its subcommands on the CLI11 app. A parsed
// command stores what to run in `selected`; main runs it after parsing.

#include <CLI/CLI.hpp>

#include "cli/common.hpp"

namespace banger::cli {

void add_vm_commands(CLI::App& app, action& selected);
/// vm set / ssh / ports / proxy (registered by add_vm_commands).
void add_vm_network_commands(CLI::App& vm, action& selected);
/// vm workspace prepare / export (registered by add_vm_commands).
void add_workspace_commands(CLI::App& vm, action& selected);
void add_image_commands(CLI::App& app, action& selected);
/// image pull / kernel pull (registered by add_image_commands).
void add_pull_commands(CLI::App& image, CLI::App& kernel, action& selected);
void add_daemon_commands(CLI::App& app, action& selected);
void add_ssh_commands(CLI::App& app, action& selected);
void add_doctor_command(CLI::App& app, action& selected);

} // namespace banger::cli
