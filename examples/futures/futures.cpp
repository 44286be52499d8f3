// futures: asking actors and getting their answers, from outside and from
// inside an actor.
//
// A Pricer knows a few prices and takes a while to look one up (it answers
// 30 ms later, by a timer, without blocking its worker). A Cashier takes an
// Order, asks the Pricer about every item at once, and answers the order
// when all the prices are in. While it waits it is not blocked: it goes on
// handling other messages (here main asks it how busy it is), and each
// price comes back as a turn of its own, so the continuation may touch the
// cashier's state like any handler.
//
// Shows:
//   - requests that declare their answer's type (`using reply_type = Price;`):
//     request_future(pid, msg, timeout) is then a Future<Price>;
//   - Future::get() and result() on a thread that is no actor;
//   - Future::then(f), run where the future completes;
//   - Context::request_future + Context::reenter_after inside an actor;
//   - the ways a request fails: a timeout, and a dead letter at once (a
//     message the actor does not handle), as a Result and as RequestError.
//
// Exits 0 if every answer (and every failure) came as expected.
#include <shoal/shoal.hpp>

#include <chrono>
#include <cstdio>
#include <future>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

// -- messages ------------------------------------------------------------------

struct Price {
  long cents = 0;
};
/// What does `item` cost? Answered with a Price, or not at all for an item
/// the pricer does not know (the asker's timeout says so).
struct PriceOf {
  std::string item;
  using reply_type = Price;
};

struct Receipt {
  long total_cents = 0;
  std::vector<std::string> unavailable;
};
struct Order {
  std::vector<std::string> items;
  using reply_type = Receipt;
};

struct Busy {
  std::size_t open_orders = 0;
};
struct HowBusy {
  using reply_type = Busy;
};

// -- the actors ----------------------------------------------------------------

struct Pricer : shoal::Handles<Pricer, PriceOf> {
  void on(shoal::Context& ctx, PriceOf& q) {
    auto it = prices.find(q.item);
    if (it == prices.end()) return;  // no answer: the asker times out
    // respond() answers now, in this turn. Any message sent to the
    // request's sender answers it too: here a timer sends it in 30 ms, and
    // the pricer's worker is free meanwhile.
    ctx.send_after(ctx.sender(), Price{it->second}, 30ms);
  }
  std::map<std::string, long> prices{{"apple", 45}, {"bread", 250}, {"cheese", 799}};
};

struct Cashier : shoal::Handles<Cashier, Order, HowBusy> {
  explicit Cashier(shoal::Pid pricer) : pricer(std::move(pricer)) {}

  void on(shoal::Context& ctx, Order& order) {
    if (order.items.empty()) {
      ctx.respond(Receipt{});
      return;
    }
    const std::uint64_t id = next_order++;
    Bill& bill = open[id];
    bill.waiting = order.items.size();
    for (std::string& item : order.items) {
      // Inside an actor, never get(): it would block this worker. Ask, and
      // name what to do with the answer.
      shoal::Future<Price> f = ctx.request_future(pricer, PriceOf{item}, 2s);
      // The continuation runs later as a message of this actor: one at a
      // time with its other messages, so it may use `open` without a lock.
      // Capturing `this` is safe: a continuation is dropped unrun if this
      // actor stopped or was restarted meanwhile.
      ctx.reenter_after(f, [this, id, item](shoal::Context& ctx, shoal::Result<Price>& price) {
        Bill& b = open[id];
        if (price) {
          b.receipt.total_cents += price.value().cents;
        } else {
          std::printf("cashier: no price for %s (%s)\n", item.c_str(),
                      std::string(shoal::to_string(price.error())).c_str());
          b.receipt.unavailable.push_back(item);
        }
        if (--b.waiting > 0) return;
        // respond() here answers the message that was being handled when
        // reenter_after was called: this order.
        ctx.respond(std::move(b.receipt));
        open.erase(id);
      });
    }
  }
  void on(shoal::Context& ctx, HowBusy&) { ctx.respond(Busy{open.size()}); }

  struct Bill {
    std::size_t waiting = 0;
    Receipt receipt;
  };
  shoal::Pid pricer;
  std::uint64_t next_order = 0;
  std::unordered_map<std::uint64_t, Bill> open;
};

bool check(bool ok, const char* what) {
  if (!ok) std::fprintf(stderr, "futures: FAILED: %s\n", what);
  return ok;
}

}  // namespace

int main() {
  // A then() callback runs on the thread that completes the future (a
  // worker, or the thread that shuts the system down): what it captures
  // must outlive the system, so this promise is declared first.
  std::promise<long> bread_price;

  shoal::ActorSystem system({.scheduler = {.workers = 2}});
  shoal::Pid pricer = system.spawn<Pricer>();
  shoal::Pid cashier = system.spawn(shoal::Props::of<Cashier>(pricer));
  bool ok = true;

  // 1. get(): block this (non-actor) thread until the answer comes. The
  //    request declares its answer, so this is a Future<Price>; asking
  //    request_future<Receipt>(pricer, PriceOf{...}) would not compile.
  shoal::Future<Price> apple = system.request_future(pricer, PriceOf{"apple"}, 10s);
  const long apple_cents = apple.get().cents;  // throws RequestError if there is none
  std::printf("main: an apple costs %ld cents\n", apple_cents);
  ok &= check(apple_cents == 45, "the price of an apple");

  // 2. then(): a callback where the future completes; this thread goes on.
  system.request_future(pricer, PriceOf{"bread"}, 10s).then([&bread_price](shoal::Result<Price> r) {
    bread_price.set_value(r ? r.value().cents : -1);
  });

  // 3. reenter_after, in the cashier: one order, three lookups at once.
  //    While they are out the cashier answers other questions.
  shoal::Future<Receipt> receipt =
      system.request_future(cashier, Order{{"apple", "caviar", "cheese"}}, 10s);
  shoal::Result<Busy> busy = system.request_future(cashier, HowBusy{}, 10s).result();
  if (busy) std::printf("main: the cashier has %zu open order(s)\n", busy.value().open_orders);
  ok &= check(busy.ok(), "the cashier answers while its order waits");

  // The caviar lookup times out (the pricer never answers it), so the
  // receipt takes the cashier's 2 s timeout to come.
  shoal::Result<Receipt> r = receipt.result();
  if (r) {
    std::printf("main: receipt: %ld cents, %zu item(s) unavailable\n", r.value().total_cents,
                r.value().unavailable.size());
  }
  ok &= check(r && r.value().total_cents == 45 + 799 && r.value().unavailable.size() == 1,
              "the receipt: apple and cheese, no caviar");

  std::future<long> bread = bread_price.get_future();
  const long bread_cents = bread.wait_for(10s) == std::future_status::ready ? bread.get() : -1;
  std::printf("main: the then() callback saw bread at %ld cents\n", bread_cents);
  ok &= check(bread_cents == 250, "the then() callback with the price of bread");

  // 4. Failures come as a Result that is not ok(), or as a RequestError
  //    from get(). A request the actor does not handle fails at once (a
  //    dead letter), not at the timeout.
  try {
    system.request_future(pricer, Order{{"apple"}}, 10s).get();
    ok &= check(false, "an Order to the pricer is not handled");
  } catch (const shoal::RequestError& e) {
    std::printf("main: the pricer does not take orders: %s (%s)\n",
                std::string(shoal::to_string(e.code())).c_str(),
                std::string(shoal::to_string(e.reason())).c_str());
    ok &= check(e.code() == shoal::RequestErrc::dead_letter &&
                    e.reason() == shoal::DeadLetterReason::unhandled,
                "a dead letter, unhandled");
  }
  shoal::Result<Price> pear = system.request_future(pricer, PriceOf{"pear"}, 100ms).result();
  std::printf("main: a pear: %s\n", pear ? "priced" : pear.what().c_str());
  ok &= check(!pear && pear.error() == shoal::RequestErrc::timeout, "a timeout for the pear");

  system.shutdown();
  return ok ? 0 : 1;
}
