#pragma once
// Runs a "vm.run" or "vm.exec" request the way a local command runs: its
// output lands on our stdout/stderr byte for byte, stdin is forwarded with
// -i, SIGINT/SIGTERM/SIGHUP reach the guest command, and banger exits with
// the command's status.

#include <string>

#include "cli/client.hpp"

namespace banger::cli {

/// Streams the request and returns the exit code for banger: the command's
/// own (128 + signal if killed); a daemon error is printed and gives 125.
int stream_command(daemon_client& client, const std::string& type,
                   const wire::json& body, bool forward_stdin);

} // namespace banger::cli
