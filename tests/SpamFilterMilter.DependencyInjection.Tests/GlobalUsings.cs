global using Microsoft.Extensions.Configuration;
global using Microsoft.Extensions.DependencyInjection;
global using NUnit.Framework;
global using SpamFilterMilter.Contract;
global using SpamFilterMilter.Options;
global using SpamFilterMilter.Plugin;
global using SpamFilterMilter.Testing;
