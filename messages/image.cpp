#include "messages/image.hpp"

#include "messages/agent.hpp"

namespace banger {

using wire::json;
using wire::object_reader;

namespace {

template <class T>
json to_array(const std::vector<T>& xs) {
  json arr = json::array();
  for (auto& x : xs)
    arr.push_back(to_json(x));
  return arr;
}

template <class T>
void from_array(object_reader& r, const char* key, std::vector<T>& out) {
  json arr;
  r.required(key, arr);
  r.finish();
  if (!arr.is_array())
    r.fail(std::string("field '") + key + "' must be an array");
  for (auto& e : arr)
    out.push_back(decode<T>(e));
}

} // namespace

json to_json(const image_info& x) {
  return {{"name", x.name},
          {"kernel", x.kernel},
          {"rootfs", x.rootfs},
          {"size_bytes", x.size_bytes},
          {"created_at", x.created_at},
          {"source", x.source},
          {"digest", x.digest},
          {"work_seed", x.work_seed}};
}

void from_json(const json& j, image_info& x) {
  object_reader r(j, "image");
  r.required("name", x.name);
  r.optional("kernel", x.kernel);
  r.optional("rootfs", x.rootfs);
  r.optional("size_bytes", x.size_bytes);
  r.optional("created_at", x.created_at);
  r.optional("source", x.source);
  r.optional("digest", x.digest);
  r.optional("work_seed", x.work_seed);
  r.finish();
}

json to_json(const kernel_info& x) {
  return {{"name", x.name},
          {"vmlinux", x.vmlinux},
          {"initrd", x.initrd},
          {"version", x.version},
          {"created_at", x.created_at},
          {"source", x.source},
          {"digest", x.digest}};
}

void from_json(const json& j, kernel_info& x) {
  object_reader r(j, "kernel");
  r.required("name", x.name);
  r.optional("vmlinux", x.vmlinux);
  r.optional("initrd", x.initrd);
  r.optional("version", x.version);
  r.optional("created_at", x.created_at);
  r.optional("source", x.source);
  r.optional("digest", x.digest);
  r.finish();
}

json to_json(const image_list& x) {
  return {{"images", to_array(x.images)}};
}

void from_json(const json& j, image_list& x) {
  object_reader r(j, "image list");
  from_array(r, "images", x.images);
}

json to_json(const kernel_list& x) {
  return {{"kernels", to_array(x.kernels)}};
}

void from_json(const json& j, kernel_list& x) {
  object_reader r(j, "kernel list");
  from_array(r, "kernels", x.kernels);
}

json to_json(const image_import_request& x) {
  return {{"name", x.name},
          {"rootfs", x.rootfs},
          {"kernel", x.kernel},
          {"work_seed", x.work_seed}};
}

void from_json(const json& j, image_import_request& x) {
  object_reader r(j, "image import");
  r.required("name", x.name);
  r.required("rootfs", x.rootfs);
  r.optional("kernel", x.kernel);
  r.optional("work_seed", x.work_seed);
  r.finish();
}

json to_json(const kernel_import_request& x) {
  return {{"name", x.name}, {"from", x.from}};
}

void from_json(const json& j, kernel_import_request& x) {
  object_reader r(j, "kernel import");
  r.required("name", x.name);
  r.required("from", x.from);
  r.finish();
}

json to_json(const image_pull_request& x) {
  json j = {{"ref", x.ref}};
  if (!x.name.empty())
    j["name"] = x.name;
  if (!x.kernel.empty())
    j["kernel"] = x.kernel;
  if (x.size_bytes != 0)
    j["size_bytes"] = x.size_bytes;
  return j;
}

void from_json(const json& j, image_pull_request& x) {
  object_reader r(j, "image pull");
  r.required("ref", x.ref);
  r.optional("name", x.name);
  r.optional("kernel", x.kernel);
  r.optional("size_bytes", x.size_bytes);
  r.finish();
}

json to_json(const image_build_request& x) {
  json j = {{"name", x.name}, {"from", x.from}, {"exec", to_json(x.exec)}};
  if (!x.kernel.empty())
    j["kernel"] = x.kernel;
  if (x.size_bytes != 0)
    j["size_bytes"] = x.size_bytes;
  if (x.nat)
    j["nat"] = true;
  return j;
}

void from_json(const json& j, image_build_request& x) {
  object_reader r(j, "image build");
  r.required("name", x.name);
  r.required("from", x.from);
  r.optional("kernel", x.kernel);
  r.optional("size_bytes", x.size_bytes);
  r.optional("nat", x.nat);
  json exec;
  r.required("exec", exec);
  r.finish();
  x.exec = decode<exec_spec>(exec);
}

json to_json(const kernel_pull_request& x) {
  return {{"name", x.name}};
}

void from_json(const json& j, kernel_pull_request& x) {
  object_reader r(j, "kernel pull");
  r.required("name", x.name);
  r.finish();
}

} // namespace banger
