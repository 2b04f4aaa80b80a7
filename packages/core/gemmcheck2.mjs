import * as mx from '@mlxn/core';
for (const [O, I] of [[32000, 128], [32000, 512]]) {
  const w = mx.random.normal([O, I]); mx.eval(w);
  for (const M of [1, 8]) {
    const xm = mx.random.normal([M, I]); mx.eval(xm);
    for (let i = 0; i < 5; i++) mx.eval(mx.linear(xm, w));
    const t = performance.now(); for (let i = 0; i < 50; i++) mx.eval(mx.linear(xm, w));
    console.log(O, I, M, ((performance.now() - t) / 50).toFixed(3), 'ms');
  }
}
