#pragma once
// Names of VMs, images and kernels. They end up in host paths, guest hostnames
// and CLI arguments, so they are RFC 1123 labels: 1-63 characters of
// [a-z0-9-], not starting or ending with '-'. Input is never normalised: a
// name is either valid as typed or refused with the reason.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace banger {

/// Longest valid name (an RFC 1123 label, so a name is also a hostname).
inline constexpr std::size_t max_name_length = 63;

/// Empty if `name` is a valid name for a `kind` ("VM", "image", "kernel"),
/// else one line naming kind and input, e.g.
/// `invalid image name "a.b": use 1-63 lowercase letters, digits or '-', not
/// starting or ending with '-' ('.' at position 2 is not allowed)`.
std::string validate_object_name(std::string_view kind, std::string_view name);

/// validate_object_name("VM", name).
std::string validate_vm_name(std::string_view name);

/// A docker-like `adjective-noun` name for which `taken` returns false; when
/// the random picks are taken, appends -2, -3, ... to one of them. `taken`
/// must eventually accept some suffix (it describes a finite set).
std::string generate_vm_name(const std::function<bool(const std::string&)>& taken);

/// The same with a fixed seed, so that tests are reproducible.
std::string generate_vm_name(const std::function<bool(const std::string&)>& taken,
                             std::uint64_t seed);

} // namespace banger
