/** `Sequential`. */
import type * as mx from '@mlxn/core';
import { Module } from '../module.js';

type Layer = Module | ((x: mx.Array) => mx.Array);

/** Calls its layers (modules or plain functions) in order; parameters are `layers.i.*`. */
export class Sequential extends Module {
  layers: Layer[];

  constructor(...layers: Layer[]) {
    super();
    this.layers = layers;
  }

  forward(x: mx.Array): mx.Array {
    for (const l of this.layers) x = l instanceof Module ? l.forward(x) : l(x);
    return x;
  }
}
