// The CalculatorService implementation.

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  CalculateResponseSchema,
  Operation,
  type CalculatorService,
} from "@modular-runtime/proto/calculator/v1/calculator";

export function calculate(op: Operation, a: number, b: number): number {
  if (!Number.isFinite(a)) throw new ConnectError(`operand a must be finite, got ${a}`, Code.InvalidArgument);
  if (!Number.isFinite(b)) throw new ConnectError(`operand b must be finite, got ${b}`, Code.InvalidArgument);
  let r: number;
  switch (op) {
    case Operation.ADD:
      r = a + b;
      break;
    case Operation.SUBTRACT:
      r = a - b;
      break;
    case Operation.MULTIPLY:
      r = a * b;
      break;
    case Operation.DIVIDE:
      if (b === 0) throw new ConnectError(`division by zero: ${a} / ${b}`, Code.InvalidArgument);
      r = a / b;
      break;
    default:
      throw new ConnectError(`unknown operation ${op}`, Code.InvalidArgument);
  }
  if (!Number.isFinite(r)) throw new ConnectError(`result of ${a} ${Operation[op]} ${b} is not finite`, Code.InvalidArgument);
  return r;
}

export function createCalculatorService(): ServiceImpl<typeof CalculatorService> {
  return {
    calculate(req) {
      return create(CalculateResponseSchema, { result: calculate(req.operation, req.a, req.b) });
    },
  };
}
