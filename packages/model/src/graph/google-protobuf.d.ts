/** The part of google-protobuf's untyped BinaryWriter that proto.ts uses (the package ships no types). */
declare module 'google-protobuf' {
  export class BinaryWriter {
    writeString(field: number, value: string): void;
    writeBytes(field: number, value: Uint8Array): void;
    writeInt64(field: number, value: number): void;
    writeInt32(field: number, value: number): void;
    writeEnum(field: number, value: number): void;
    writeFloat(field: number, value: number): void;
    writeBool(field: number, value: boolean): void;
    writePackedInt64(field: number, value: number[]): void;
    writePackedFloat(field: number, value: number[]): void;
    writePackedBool(field: number, value: boolean[]): void;
    writePackedEnum(field: number, value: number[]): void;
    writeMessage<T>(field: number, value: T, writer: (value: T, w: BinaryWriter) => void): void;
    getResultBuffer(): Uint8Array;
  }
}
