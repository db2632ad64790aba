// Fuzz of the running collector over real HTTP into a real kinesalite (see docs/fuzz.md).
import { kinesaliteProperty } from './kinesalite-property';
import { fuzzSuite } from './suite';

fuzzSuite('fuzz: collector on kinesalite', [kinesaliteProperty], 180_000);
