global using System.Net;
global using BenchmarkDotNet.Attributes;
global using SpamFilterMilter.Contract;
global using SpamFilterMilter.Options;
