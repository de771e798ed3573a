#include "actors/network.hpp"

#include <deque>
#include <algorithm>
#include <random>

#include <unistd.h>

#include <caf/all.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <fmt/format.h>

#include "services/error.hpp"
#include "services/helper_client.hpp"
#include "services/log.hpp"

namespace banger {

namespace {

// -- helper proxy ----------------------------------------------------------------

struct helper_data {
  [[maybe_unused]] static inline const char* name = "helper";
};

helper_actor::behavior_type helper_impl(helper_actor::pointer,
                                        helper_actor_config cfg) {
  auto client = std::make_shared<helper_client>(cfg.socket);
  auto logged = [](const char* what, const std::string& arg,
                   const caf::error& err) {
    log::warn("helper", "{} {}: {}", what, arg, error_message(err));
    return err;
  };
  return {
    [=](atom::create, atom::tap, const std::string& name)
      -> caf::result<tap_lease> {
      auto made = client->create_tap({name, cfg.owner_uid, cfg.bridge});
      if (!made)
        return logged("create TAP", name, made.error());
      // Never share a TAP that exists already (a name collision).
      if (!made->created)
        return make_error(ec::already_exists, "TAP " + name + " exists already");
      auto fd = client->open_tap(name);
      if (!fd) {
        // Never leave a TAP nobody will use.
        client->delete_tap({name});
        return logged("open TAP", name, fd.error());
      }
      return tap_lease{name, fd->release()};
    },
    [=](atom::del, atom::tap, const std::string& name) -> caf::result<bool> {
      auto r = client->delete_tap({name});
      if (!r)
        return logged("delete TAP", name, r.error());
      return r->deleted;
    },
    [=](atom::guard, atom::tap, const std::string& name, const std::string& ip,
        const std::string& mac) -> caf::result<bool> {
      auto r = client->bind_tap({name, ip, mac});
      if (!r)
        return logged("bind TAP", name, r.error());
      return r->changed;
    },
    [=](atom::list, atom::tap) -> caf::result<std::vector<std::string>> {
      auto r = client->list();
      if (!r)
        return std::move(r.error());
      std::vector<std::string> out;
      for (auto& t : r->taps)
        out.push_back(t.name);
      return out;
    },
    [=](atom::nat, const std::string& ip, bool on) -> caf::result<bool> {
      if (on) {
        auto r = client->add_nat({ip, cfg.bridge});
        if (!r)
          return logged("add NAT for", ip, r.error());
        return r->added;
      }
      auto r = client->remove_nat({ip});
      if (!r)
        return logged("remove NAT for", ip, r.error());
      return r->removed > 0;
    },
    [=](atom::list, atom::nat) -> caf::result<std::vector<std::string>> {
      auto r = client->list();
      if (!r)
        return std::move(r.error());
      std::vector<std::string> out;
      for (auto& n : r->nat)
        out.push_back(n.guest_ip);
      return out;
    },
  };
}

// -- TAP pool --------------------------------------------------------------------

struct pool_data {
  [[maybe_unused]] static inline const char* name = "tap_pool";
  // Not an aggregate: CAF would try to build it from the self pointer.
  pool_data() = default;
  pool_data(const pool_data&) = delete;
  pool_data& operator=(const pool_data&) = delete;
  helper_actor helper;
  std::string prefix;
  std::uint32_t size = 0;
  std::deque<tap_lease> warm;
  /// A warm TAP is being made (one at a time: the helper is serial anyway).
  bool filling = false;
  /// Name collisions in a row (a TAP of that name existed): retried.
  int collisions = 0;
  /// Set at shutdown: make no more warm TAPs.
  bool draining = false;
  /// Leases waiting for the TAP being made.
  std::deque<caf::typed_response_promise<tap_lease>> waiting;
  std::mt19937_64 rng{std::random_device{}()};
  ~pool_data() {
    for (auto& t : warm)
      ::close(t.fd);
  }
};

using pool_ptr = tap_pool_actor::stateful_pointer<pool_data>;

/// prefix + random [0-9a-f], as many as fit in an interface name (at most 8).
std::string next_name(pool_ptr self) {
  auto& st = self->state;
  auto room = st.prefix.size() < 15 ? std::min<std::size_t>(8, 15 - st.prefix.size()) : 1;
  auto suffix = fmt::format("{:08x}", static_cast<std::uint32_t>(st.rng()));
  return st.prefix + suffix.substr(0, room);
}

void fill(pool_ptr self) {
  auto& st = self->state;
  bool wanted = !st.waiting.empty() || (!st.draining && st.warm.size() < st.size);
  if (st.filling || !wanted)
    return;
  st.filling = true;
  self->request(st.helper, caf::infinite, atom::create_v, atom::tap_v,
                next_name(self))
    .then(
      [self](tap_lease& t) {
        auto& st = self->state;
        st.filling = false;
        st.collisions = 0;
        if (!st.waiting.empty()) {
          auto rp = st.waiting.front();
          st.waiting.pop_front();
          rp.deliver(std::move(t));
        } else {
          st.warm.push_back(std::move(t));
        }
        self->send(self, atom::tick_v);
      },
      [self](caf::error& err) {
        auto& st = self->state;
        st.filling = false;
        if (err == make_error(ec::already_exists, "") && ++st.collisions < 8) {
          fill(self); // another random name
          return;
        }
        st.collisions = 0;
        // A lease waiting for this TAP gets the helper's error; a warm-up
        // failure alone only waits for the next lease to try again.
        while (!st.waiting.empty()) {
          st.waiting.front().deliver(err);
          st.waiting.pop_front();
        }
      });
}

tap_pool_actor::behavior_type pool_impl(pool_ptr self, helper_actor helper,
                                        std::string prefix,
                                        std::uint32_t size) {
  self->state.helper = std::move(helper);
  self->state.prefix = std::move(prefix);
  self->state.size = size;
  return {
    [=](atom::lease) -> caf::result<tap_lease> {
      auto& st = self->state;
      if (!st.warm.empty()) {
        auto t = std::move(st.warm.front());
        st.warm.pop_front();
        fill(self);
        return t;
      }
      auto rp = self->make_response_promise<tap_lease>();
      st.waiting.push_back(rp);
      fill(self);
      return rp;
    },
    [=](atom::release, const std::string& name) {
      self->request(self->state.helper, caf::infinite, atom::del_v,
                    atom::tap_v, name)
        .then([](bool) {}, [](caf::error&) {});
      fill(self);
    },
    [=](atom::reconcile, std::vector<std::string>& in_use)
      -> caf::result<std::uint32_t> {
      auto rp = self->make_response_promise<std::uint32_t>();
      self->request(self->state.helper, caf::infinite, atom::list_v, atom::tap_v)
        .then(
          [=](std::vector<std::string>& taps) mutable {
            std::uint32_t n = 0;
            for (auto& t : taps) {
              if (std::find(in_use.begin(), in_use.end(), t) != in_use.end())
                continue;
              if (t.rfind(self->state.prefix, 0) != 0)
                continue;
              log::info("tap_pool", "deleting leftover TAP {}", t);
              self->request(self->state.helper, caf::infinite, atom::del_v,
                            atom::tap_v, t)
                .then([](bool) {}, [](caf::error&) {});
              ++n;
            }
            fill(self);
            rp.deliver(n);
          },
          [=](caf::error& err) mutable { rp.deliver(err); });
      return rp;
    },
    [=](atom::get) {
      return static_cast<std::uint32_t>(self->state.warm.size());
    },
    [=](atom::tick) { fill(self); },
    [=](atom::del) -> caf::result<std::uint32_t> {
      auto& st = self->state;
      st.draining = true;
      auto n = static_cast<std::uint32_t>(st.warm.size());
      if (n == 0)
        return n;
      auto rp = self->make_response_promise<std::uint32_t>();
      auto left = std::make_shared<std::uint32_t>(n);
      for (auto& t : st.warm) {
        ::close(t.fd);
        self->request(st.helper, caf::infinite, atom::del_v, atom::tap_v, t.name)
          .then([=](bool) mutable { if (--*left == 0) rp.deliver(n); },
                [=](caf::error&) mutable { if (--*left == 0) rp.deliver(n); });
      }
      st.warm.clear();
      return rp;
    },
  };
}

} // namespace

helper_actor spawn_helper_actor(caf::actor_system& sys,
                                helper_actor_config cfg) {
  return sys.spawn<caf::detached>(helper_impl, std::move(cfg));
}

tap_pool_actor spawn_tap_pool(caf::actor_system& sys, helper_actor helper,
                              std::string prefix, std::uint32_t size) {
  return sys.spawn(pool_impl, std::move(helper), std::move(prefix), size);
}

} // namespace banger
