#pragma once
// Runs a "vm.run" or "vm.exec" request the way a local command runs: its
// output lands on our stdout/stderr byte for byte, stdin is forwarded with
// -i, SIGINT/SIGTERM/SIGHUP reach the guest command, and banger exits with
// the command's status.

#include <functional>
#include <string>

#include "cli/client.hpp"

namespace banger::cli {

/// Streams the request and returns the exit code for banger: the command's
/// own (128 + signal if killed); a daemon error is printed and gives 125.
/// `on_result`, if given, turns the final reply (result or error) into the
/// exit code instead (image build answers with an image, not an exit code).
int stream_command(daemon_client& client, const std::string& type,
                   const wire::json& body, bool forward_stdin,
                   const std::function<int(const reply&)>& on_result = {});

} // namespace banger::cli
