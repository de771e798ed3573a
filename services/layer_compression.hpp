#pragma once
// How an OCI layer blob is compressed: what the registry client reports
// (from the layer's media type) and what the rootfs builder reads.

namespace banger {

enum class layer_compression { none, gzip, zstd };

} // namespace banger
