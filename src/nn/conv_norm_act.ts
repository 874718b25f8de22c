/**
 * Conv → BatchNorm → activation (timm's ConvNormAct; keys `conv.*`, `bn.*`), the unit MobileNet
 * blocks, MobileViT, CMT's stem and GLNet's stems are made of. In inference graphs the BatchNorm is
 * folded into the convolution's weight and bias (one Conv node: ORT pre-packs it like any other).
 */
import type { Value } from '../graph/graph.js';
import * as F from '../graph/ops/index.js';
import { BatchNorm2d } from './batchnorm.js';
import { Conv2d, activation, type Activation, type Init } from './layers.js';
import { Module } from './module.js';

export interface ConvNormActOptions {
  stride?: number;
  /** Default: 'same' padding for odd kernels, (k − 1)/2 · dilation. */
  padding?: number;
  dilation?: number;
  groups?: number;
  /** Conv bias (default false: the BatchNorm's shift makes it redundant). */
  bias?: boolean;
  act?: Activation;
  bnEps?: number;
  bnMomentum?: number;
  init?: Init;
}

export class ConvNormAct extends Module {
  conv: Conv2d;
  bn: BatchNorm2d;
  private readonly act: Module & { forward(x: Value): Value };

  constructor(inChannels: number, outChannels: number, kernel: number, o: ConvNormActOptions = {}) {
    super();
    const dilation = o.dilation ?? 1;
    this.conv = new Conv2d(inChannels, outChannels, kernel, {
      stride: o.stride ?? 1,
      padding: o.padding ?? Math.floor((kernel - 1) / 2) * dilation,
      dilation,
      groups: o.groups ?? 1,
      bias: o.bias ?? false,
      init: o.init,
    });
    this.bn = new BatchNorm2d(outChannels, { eps: o.bnEps, momentum: o.bnMomentum });
    this.act = activation(o.act ?? 'identity');
  }

  forward(x: Value): Value {
    return this.act.call(convBn(this.conv, this.bn, x));
  }
}

/**
 * BN(conv(x)) for a conv and the BatchNorm right after it, whatever their key names (CMT stores
 * them as an nn.Sequential's `0` and `1`). In eval the BatchNorm is folded into the conv: one Conv node.
 */
export function convBn(conv: Conv2d, bn: BatchNorm2d, x: Value): Value {
  if (bn.training) return bn.call(conv.call(x));
  const { weight, bias } = bn.foldInto(conv.weight.value, conv.bias?.value ?? null);
  return F.conv2d(x, weight, bias, conv.options);
}
