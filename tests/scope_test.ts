// tidy/keep on the CPU device: which tensors a scope frees and which it hands
// back, nesting, errors, async refusal, and valueAndGrad freeing what its
// traced function creates.

import assert from "node:assert/strict";
import {
  add,
  ArgumentError,
  full,
  keep,
  mse,
  mul,
  sum,
  type Tensor,
  tensor,
  tidy,
  valueAndGrad,
  zeros,
} from "../mod.ts";

Deno.test("tidy frees what fn creates and keeps what it returns", async () => {
  const x = tensor([1, 2, 3]);
  let inner: Tensor | undefined;
  const y = tidy(() => {
    inner = mul(x, x);
    return add(inner, x);
  });
  assert.ok(inner!.isDisposed, "the intermediate is freed");
  assert.ok(!y.isDisposed);
  assert.ok(!x.isDisposed, "tensors created before the scope are untouched");
  assert.deepEqual(await y.toArray(), [2, 6, 12]);
});

Deno.test("tidy keeps every tensor of a returned tree: arrays, records, Maps", () => {
  const made: Tensor[] = [];
  const out = tidy(() => {
    const a = zeros([2]);
    const b = full([2], 3);
    const c = add(a, b);
    const dropped = add(c, c);
    made.push(a, b, c, dropped);
    return { pair: [a, { b }], byName: new Map([["c", c]]), label: "x", n: 3 };
  });
  assert.deepEqual(made.map((t) => t.isDisposed), [false, false, false, true]);
  assert.equal(out.label, "x");
  assert.equal(out.pair[0], made[0]);
});

Deno.test("nested scopes free their own tensors; an inner result belongs to the outer scope", () => {
  let fromInner: Tensor | undefined;
  let innerTemp: Tensor | undefined;
  const result = tidy(() => {
    fromInner = tidy(() => {
      innerTemp = zeros([3]);
      return add(innerTemp, innerTemp);
    });
    assert.ok(innerTemp!.isDisposed, "the inner scope frees on return");
    assert.ok(!fromInner.isDisposed);
    return 42;
  });
  assert.equal(result, 42);
  assert.ok(fromInner!.isDisposed, "not returned by the outer scope, so freed by it");
});

Deno.test("keep exempts a tensor from every open scope", () => {
  let kept: Tensor | undefined;
  tidy(() => {
    tidy(() => {
      kept = keep(full([2], 7));
    });
  });
  assert.ok(!kept!.isDisposed);
  kept!.dispose();
});

Deno.test("a throwing fn frees everything it created and the error propagates", () => {
  let made: Tensor | undefined;
  assert.throws(() =>
    tidy(() => {
      made = zeros([4]);
      throw new RangeError("boom");
    }), RangeError);
  assert.ok(made!.isDisposed);
});

Deno.test("tidy refuses async code, freeing what it created", () => {
  assert.throws(
    // deno-lint-ignore require-await
    () => tidy(async () => zeros([1])),
    (e: Error) => e instanceof ArgumentError && /tidy: fn is an async function/.test(e.message),
  );
  let made: Tensor | undefined;
  assert.throws(
    () =>
      tidy(() => {
        made = zeros([1]);
        return Promise.resolve(made);
      }),
    (e: Error) => e instanceof ArgumentError && /fn returned a Promise/.test(e.message),
  );
  assert.ok(made!.isDisposed);
});

Deno.test("valueAndGrad frees zeros/full created inside the traced function", async () => {
  const made: Tensor[] = [];
  const loss = (p: { w: Tensor }) => {
    const target = zeros([2]);
    const offset = full([2], 1);
    made.push(target, offset);
    return mse(add(p.w, offset), target);
  };
  const w = tensor([1, 3]);
  const { value, grads } = valueAndGrad(loss)({ w });
  assert.ok(made.every((t) => t.isDisposed), "zeros and full are freed with the trace");
  assert.ok(!w.isDisposed && !value.isDisposed && !grads.w.isDisposed);
  assert.deepEqual(await value.toArray(), 10); // ((2)^2 + 4^2) / 2
  assert.deepEqual(await grads.w.toArray(), [2, 4]);
});

Deno.test("valueAndGrad inside tidy: value and grads are freed unless returned", async () => {
  const w = tensor([1, -2]);
  let value: Tensor | undefined;
  const g = tidy(() => {
    const r = valueAndGrad((p: { w: Tensor }) => sum(mul(p.w, p.w)))({ w });
    value = r.value;
    return r.grads.w;
  });
  assert.ok(value!.isDisposed);
  assert.deepEqual(await g.toArray(), [2, -4]);
});

Deno.test("tidy inside a traced function: the tape keeps what the backward pass needs", async () => {
  const w = tensor([1, -2, 3]);
  const { value, grads } = valueAndGrad((p: { w: Tensor }) =>
    tidy(() => {
      const squared = mul(p.w, p.w); // freed by this scope, still saved by the tape
      return sum(mul(squared, p.w)); // sum(w^3)
    })
  )({ w });
  assert.deepEqual(await value.toArray(), 1 - 8 + 27);
  assert.deepEqual(await grads.w.toArray(), [3, 12, 27]);
});

Deno.test("keep and tidy refuse what is not a tensor or a function", () => {
  assert.throws(
    () => keep(null as unknown as Tensor),
    /keep: tensor must be a Tensor, but got null/,
  );
  const t = zeros([1]);
  t.dispose();
  assert.throws(() => keep(t), /keep: tensor was disposed/);
  assert.throws(() => tidy("f" as unknown as () => void), /tidy: fn must be a function/);
});
