#include "actors/store_actor.hpp"

#include <caf/all.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace banger {

namespace {

struct store_state {
  [[maybe_unused]] static inline const char* name = "store";
  std::shared_ptr<store> db;
};

// Maps expected<void> to the bool the interface replies with.
caf::result<bool> done(caf::expected<void> x) {
  if (!x)
    return std::move(x.error());
  return true;
}

store_actor::behavior_type
store_impl(store_actor::stateful_pointer<store_state> self,
           std::shared_ptr<store> db) {
  self->state.db = std::move(db);
  auto& s = *self->state.db;
  return {
    [&s](atom::create, const vm_record& r) { return done(s.insert_vm(r)); },
    [&s](atom::put, const vm_record& r) { return done(s.update_vm(r)); },
    [&s](atom::del, const std::string& id) { return done(s.delete_vm(id)); },
    [&s](atom::list) -> caf::result<std::vector<vm_record>> {
      return s.list_vms();
    },
    [&s](atom::image, atom::get,
         const std::string& name) -> caf::result<image_info> {
      return s.find_image(name);
    },
    [&s](atom::image, atom::list) -> caf::result<image_list> {
      auto xs = s.list_images();
      if (!xs)
        return std::move(xs.error());
      return image_list{std::move(*xs)};
    },
    [&s](atom::image, atom::create, const image_info& x) {
      return done(s.insert_image(x));
    },
    [&s](atom::image, atom::del, const std::string& name)
        -> caf::result<image_info> { return s.take_image(name); },
    [&s](atom::kernel, atom::get,
         const std::string& name) -> caf::result<kernel_info> {
      return s.find_kernel(name);
    },
    [&s](atom::kernel, atom::list) -> caf::result<kernel_list> {
      auto xs = s.list_kernels();
      if (!xs)
        return std::move(xs.error());
      return kernel_list{std::move(*xs)};
    },
    [&s](atom::kernel, atom::create, const kernel_info& x) {
      return done(s.insert_kernel(x));
    },
    [&s](atom::kernel, atom::del, const std::string& name)
        -> caf::result<kernel_info> { return s.take_kernel(name); },
  };
}

} // namespace

store_actor spawn_store(caf::actor_system& sys, std::unique_ptr<store> db) {
  return sys.spawn<caf::detached>(store_impl,
                                  std::shared_ptr<store>(std::move(db)));
}

} // namespace banger
